// What a `Linear` on tokens needs around its cuBLAS products (the products themselves are
// cuBLAS GEMMs planned by the crate's `plan::gemm_*`):
//
//   forward   y = x·Wᵀ + b: `bias_rows` writes b into every row of y, then one GEMM adds x·Wᵀ
//             (β = 1);
//   backward  db += Σ_rows dy: `column_sum_partial` sums dy per part of `rows_per_part` rows,
//             then `column_sum_accumulate` (layer_norm.cu) adds the parts in order, so the sum
//             does not depend on the launch;
//   bf16      `f32_to_bf16` rounds a GEMM operand to bf16 (round to nearest, ties to even, NaN
//             kept a NaN) for `train.precision = bf16`: bf16 operands, fp32 accumulation and
//             fp32 output.
//
// Launch (the crate's `launch` module): `bias_rows` and `f32_to_bf16` one thread per element,
// grid-stride (`launch::per_element`); `column_sum_partial` one thread per column with
// `gridDim.y` parts (`launch::per_column`).
#include "common.cuh"

// y[r·cols + c] = bias[c]; y: (rows, cols), bias: (cols,).
extern "C" __global__ void bias_rows(const float* __restrict__ bias, float* __restrict__ y, int rows, int cols) {
    const long n = (long)rows * cols;
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = bias[i % cols];
}

// part[p·cols + c] = Σ x[r·cols + c] over the rows r of part p, in order; x: (rows, cols),
// part: (parts, cols).
extern "C" __global__ void column_sum_partial(const float* __restrict__ x, float* __restrict__ part, int rows,
                                              int cols, int rows_per_part) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int p = blockIdx.y;
    if (c >= cols) return;
    const int end = min(rows, (p + 1) * rows_per_part);
    float sum = 0.0f;
    for (int row = p * rows_per_part; row < end; ++row) sum += x[(long)row * cols + c];
    part[(long)p * cols + c] = sum;
}

// y[i] = bf16(x[i]) for i < n.
extern "C" __global__ void f32_to_bf16(const float* __restrict__ x, __nv_bfloat16* __restrict__ y, int n) {
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = __float2bfloat16(x[i]);
}
