// Bias + exact (erf) GELU over a row-major (rows, cols) matrix with a per-column bias (the
// MLP's fc1 product, its bias and its activation), forward and backward.
//
// With h = x + b (b broadcast over rows), Φ the standard normal CDF and φ its density:
//   forward   y = gelu(h) = h·Φ(h) = ½·h·(1 + erf(h/√2));
//   backward  dx = dy·gelu'(h), gelu'(h) = Φ(h) + h·φ(h) = ½·(1 + erf(h/√2)) + h·e^(−h²/2)/√(2π),
//             recomputed from x and b (nothing is saved), and db = Σ_rows dx, summed per part
//             of `rows_per_part` rows, then the parts in order (`column_sum_accumulate` of
//             layer_norm.cu), so the result does not depend on the launch.
//
// Under `train.precision = bf16` the device's GELU (no bias) keeps only its input rounded to
// bf16 for the backward: `gelu_forward_keep_bf16` and `gelu_backward_bf16` below. The MLP op
// runs fc1's bias and GELU in bf16 as `bias_gelu_forward_bf16` (h = x + b kept in bf16, y
// written in bf16 as fc2's operand) and `bias_gelu_backward_bf16` (dh written in bf16 as the
// operand of fc1's two backward products, db summed in fp32).
//
// Launch (the crate's `launch` module): the forward one thread per element, grid-stride
// (`launch::per_element`); the backward one thread per column, with `gridDim.y` parts
// (`launch::per_column`). Every element is read and written by one thread, its reads first,
// so `y` may be `x` and `dx` may be `dy` (in place, without `accumulate`): those pointers are
// not `__restrict__`.
#include "common.cuh"

#define GELU_RSQRT_2 0.70710678118654752f
#define GELU_RSQRT_2PI 0.39894228040143268f

// y = gelu(x + bias[c]); x, y: (rows, cols), bias: (cols,) or null (no bias: y = gelu(x)).
extern "C" __global__ void bias_gelu_forward(const float* x, const float* __restrict__ bias, float* y, int rows,
                                             int cols) {
    const long n = (long)rows * cols;
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float h = bias ? x[i] + bias[i % cols] : x[i];
        y[i] = 0.5f * h * (1.0f + erff(h * GELU_RSQRT_2));
    }
}

// For part p of `rows_per_part` rows and column c: dx = dy·gelu'(x + bias[c]) on the part's
// rows (overwritten, or with `accumulate` added to what dx holds), and
// db_part[p·cols + c] = Σ dy·gelu' over those rows in order.
// dy, x, dx: (rows, cols); bias: (cols,); db_part: (parts, cols). Without a bias (null), the
// bias is 0 and db_part (null too) is not written.
extern "C" __global__ void bias_gelu_backward(const float* dy, const float* __restrict__ x,
                                              const float* __restrict__ bias, float* dx,
                                              float* __restrict__ db_part, int rows, int cols,
                                              int rows_per_part, int accumulate) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int p = blockIdx.y;
    if (c >= cols) return;
    const float b = bias ? bias[c] : 0.0f;
    const int end = min(rows, (p + 1) * rows_per_part);
    float sum = 0.0f;
    for (int row = p * rows_per_part; row < end; ++row) {
        const long at = (long)row * cols + c;
        const float h = x[at] + b;
        const float e = erff(h * GELU_RSQRT_2);
        const float d = 0.5f * (1.0f + e) + h * GELU_RSQRT_2PI * expf(-0.5f * h * h);
        const float g = dy[at] * d;
        dx[at] = accumulate ? dx[at] + g : g;
        sum += g;
    }
    if (db_part) db_part[(long)p * cols + c] = sum;
}

// Under `train.precision = bf16` (no bias): y = gelu(x) in fp32, and `keep` = x rounded to
// bf16, which is all the backward keeps (half the memory of the fp32 input). x, y: (n,);
// keep: (n,) bf16. One thread per element, grid-stride.
extern "C" __global__ void gelu_forward_keep_bf16(const float* __restrict__ x, float* __restrict__ y,
                                                  __nv_bfloat16* __restrict__ keep, int n) {
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float h = x[i];
        y[i] = 0.5f * h * (1.0f + erff(h * GELU_RSQRT_2));
        keep[i] = __float2bfloat16(h);
    }
}

// dx += dy·gelu'(x̃) with x̃ the kept bf16 input; dy, dx: (n,); keep: (n,) bf16.
extern "C" __global__ void gelu_backward_bf16(const float* __restrict__ dy, const __nv_bfloat16* __restrict__ keep,
                                              float* __restrict__ dx, int n) {
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float h = __bfloat162float(keep[i]);
        const float d = 0.5f * (1.0f + erff(h * GELU_RSQRT_2)) + h * GELU_RSQRT_2PI * expf(-0.5f * h * h);
        dx[i] += dy[i] * d;
    }
}

// Under bf16, fc1's bias and GELU in the MLP op: h = x + bias[c] in fp32, `keep` = h rounded
// to bf16 (what the backward differentiates at; null without a backward) and `y` = gelu(h)
// rounded to bf16 (fc2's operand, no fp32 copy). x: (rows, cols) fc1's product; bias:
// (cols,); keep, y: (rows, cols) bf16. One thread per element, grid-stride.
extern "C" __global__ void bias_gelu_forward_bf16(const float* __restrict__ x, const float* __restrict__ bias,
                                                  __nv_bfloat16* __restrict__ keep,
                                                  __nv_bfloat16* __restrict__ y, int rows, int cols) {
    const long n = (long)rows * cols;
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float h = x[i] + bias[i % cols];
        if (keep) keep[i] = __float2bfloat16(h);
        y[i] = __float2bfloat16(0.5f * h * (1.0f + erff(h * GELU_RSQRT_2)));
    }
}

// Its backward, for part p of `rows_per_part` rows and column c: g = dy·gelu'(h̃) with h̃ the
// kept bf16 h, written to dh rounded to bf16 (the operand of fc1's backward products), and
// db_part[p·cols + c] = Σ g (fp32) over the part's rows in order.
// dy: (rows, cols) f32; keep, dh: (rows, cols) bf16; db_part: (parts, cols).
extern "C" __global__ void bias_gelu_backward_bf16(const float* __restrict__ dy,
                                                   const __nv_bfloat16* __restrict__ keep,
                                                   __nv_bfloat16* __restrict__ dh,
                                                   float* __restrict__ db_part, int rows, int cols,
                                                   int rows_per_part) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int p = blockIdx.y;
    if (c >= cols) return;
    const int end = min(rows, (p + 1) * rows_per_part);
    float sum = 0.0f;
    for (int row = p * rows_per_part; row < end; ++row) {
        const long at = (long)row * cols + c;
        const float h = __bfloat162float(keep[at]);
        const float d = 0.5f * (1.0f + erff(h * GELU_RSQRT_2)) + h * GELU_RSQRT_2PI * expf(-0.5f * h * h);
        const float g = dy[at] * d;
        dh[at] = __float2bfloat16(g);
        sum += g;
    }
    db_part[(long)p * cols + c] = sum;
}
