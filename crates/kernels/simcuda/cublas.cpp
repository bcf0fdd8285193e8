// cuBLAS on the CPU (`libcublas.so.13` of the simulated toolchain): the handle calls and
// the matrix products cudarc 0.9, dfdx and deitc make, column-major as cuBLAS defines them,
// `C = α·op(A)·op(B) + β·C` (C not read when β = 0), over host memory.
//
// Operands are f32 or bf16 (`CUDA_R_32F`, `CUDA_R_16BF`), outputs f32; sums accumulate in
// f32 in order of k, as one GPU thread of a product does. `CUBLAS_COMPUTE_32F_FAST_TF32`
// rounds each f32 operand to TF32 (10 mantissa bits, to nearest even) first, as the tensor
// cores do, so a tf32 recipe's error shows. Sizes and leading dimensions are checked as
// cuBLAS checks them (CUBLAS_STATUS_INVALID_VALUE). Every other entry point is a stub.

#include <dlfcn.h>

#include <cstdint>
#include <cstring>

extern "C" {

// The simulated driver's counter (`driver.cpp`), found at first use: products count in its
// profiling range as "gemm <operands>" with their FLOPs.
static void tally(const char* name, unsigned long long flops) {
    using Count = void (*)(const char*, const char*, unsigned long long);
    static const Count f = reinterpret_cast<Count>(dlsym(RTLD_DEFAULT, "simcuda_count"));
    if (f) f("gemm", name, flops);
}

typedef int cublasStatus_t;
enum { OK = 0, NOT_SUPPORTED = 15, INVALID_VALUE = 7 };
enum { R_32F = 0, R_16BF = 14 };
enum { COMPUTE_32F_FAST_TF32 = 77 };

static int handle_token;

cublasStatus_t cublasCreate_v2(void** handle) {
    *handle = &handle_token;
    return OK;
}
cublasStatus_t cublasDestroy_v2(void*) { return OK; }
cublasStatus_t cublasSetStream_v2(void*, void*) { return OK; }
cublasStatus_t cublasSetMathMode(void*, int) { return OK; }
cublasStatus_t cublasGetMathMode(void*, int* mode) {
    *mode = 0;
    return OK;
}

static float load(const void* base, int type, long long i, bool tf32) {
    float v;
    if (type == R_16BF) {
        const uint32_t bits = uint32_t(static_cast<const uint16_t*>(base)[i]) << 16;
        std::memcpy(&v, &bits, 4);
        return v;
    }
    v = static_cast<const float*>(base)[i];
    if (tf32) {
        uint32_t u;
        std::memcpy(&u, &v, 4);
        if ((u & 0x7f800000u) != 0x7f800000u) {  // finite: round to 10 mantissa bits
            u += 0xfffu + ((u >> 13) & 1u);
            u &= 0xffffe000u;
            std::memcpy(&v, &u, 4);
        }
    }
    return v;
}

// One column-major product of matrix `batch` at the given element strides.
static cublasStatus_t product(int ta, int tb, int m, int n, int k, float alpha, const void* a, int atype, int lda,
                              long long sa, const void* b, int btype, int ldb, long long sb, float beta, float* c,
                              int ldc, long long sc, int count, bool tf32) {
    // cuBLAS's own argument checks: sizes, and leading dimensions that hold a column of
    // each operand as stored (op(A) is m × k, op(B) k × n, C m × n).
    const auto at_least = [](int ld, int rows) { return ld >= (rows > 1 ? rows : 1); };
    if (m < 0 || n < 0 || k < 0 || count < 0 || (ta != 0 && ta != 1) || (tb != 0 && tb != 1) ||
        (atype != R_32F && atype != R_16BF) || (btype != R_32F && btype != R_16BF) ||
        !at_least(lda, ta ? k : m) || !at_least(ldb, tb ? n : k) || !at_least(ldc, m))
        return INVALID_VALUE;
    tally(atype == R_16BF ? "bf16" : tf32 ? "tf32" : "fp32", 2ull * m * n * k * (unsigned long long)count);
    for (int batch = 0; batch < count; ++batch) {
        const long long oa = batch * sa, ob = batch * sb, oc = batch * sc;
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                float sum = 0.0f;
                for (int l = 0; l < k; ++l) {
                    // op(A)[i, l] and op(B)[l, j], column-major.
                    const long long ia = ta ? (long long)i * lda + l : (long long)l * lda + i;
                    const long long ib = tb ? (long long)l * ldb + j : (long long)j * ldb + l;
                    sum += load(a, atype, oa + ia, tf32) * load(b, btype, ob + ib, tf32);
                }
                float& out = c[oc + (long long)j * ldc + i];
                out = beta == 0.0f ? alpha * sum : alpha * sum + beta * out;
            }
    }
    return OK;
}

cublasStatus_t cublasSgemm_v2(void*, int ta, int tb, int m, int n, int k, const float* alpha, const float* a,
                              int lda, const float* b, int ldb, const float* beta, float* c, int ldc) {
    return product(ta, tb, m, n, k, *alpha, a, R_32F, lda, 0, b, R_32F, ldb, 0, *beta, c, ldc, 0, 1, false);
}

cublasStatus_t cublasSgemmStridedBatched(void*, int ta, int tb, int m, int n, int k, const float* alpha,
                                         const float* a, int lda, long long sa, const float* b, int ldb,
                                         long long sb, const float* beta, float* c, int ldc, long long sc,
                                         int count) {
    return product(ta, tb, m, n, k, *alpha, a, R_32F, lda, sa, b, R_32F, ldb, sb, *beta, c, ldc, sc, count,
                   false);
}

cublasStatus_t cublasGemmEx(void*, int ta, int tb, int m, int n, int k, const void* alpha, const void* a,
                            int atype, int lda, const void* b, int btype, int ldb, const void* beta, void* c,
                            int ctype, int ldc, int compute, int) {
    if (ctype != R_32F) return NOT_SUPPORTED;
    return product(ta, tb, m, n, k, *static_cast<const float*>(alpha), a, atype, lda, 0, b, btype, ldb, 0,
                   *static_cast<const float*>(beta), static_cast<float*>(c), ldc, 0, 1,
                   compute == COMPUTE_32F_FAST_TF32);
}

cublasStatus_t cublasGemmStridedBatchedEx(void*, int ta, int tb, int m, int n, int k, const void* alpha,
                                          const void* a, int atype, int lda, long long sa, const void* b,
                                          int btype, int ldb, long long sb, const void* beta, void* c, int ctype,
                                          int ldc, long long sc, int count, int compute, int) {
    if (ctype != R_32F) return NOT_SUPPORTED;
    return product(ta, tb, m, n, k, *static_cast<const float*>(alpha), a, atype, lda, sa, b, btype, ldb, sb,
                   *static_cast<const float*>(beta), static_cast<float*>(c), ldc, sc, count,
                   compute == COMPUTE_32F_FAST_TF32);
}

}  // extern "C"
