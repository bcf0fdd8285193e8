// LayerNorm over the last axis of a row-major (rows, cols) matrix, forward and backward, and
// the residual sublayer's join fused in front of it, forward and backward: x' = x + s·h (s
// the sample's drop-path scale), y = LayerNorm(x').
//
// Per row: μ = mean(x), σ = √(mean((x − μ)²) + eps), x̂ = (x − μ)/σ, y = x̂·γ + β; μ and 1/σ
// are saved for the backward, which recomputes x̂:
//   dx += (1/σ)·(g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)),  dγ = Σ_rows g·x̂,  dβ = Σ_rows g.
// dγ and dβ are summed per part of `rows_per_part` rows, then the parts in order
// (`column_sum_accumulate`), so the result does not depend on the launch.
//
// Launch (the crate's `launch` module): the row kernels run one warp per row, as many rows
// per block as the block has warps; the column kernels one thread per column, with
// `gridDim.y` parts.
#include "common.cuh"

// The row's mean and 1/σ, computed by one warp (two passes over the row).
__device__ __forceinline__ void row_stats(const float* __restrict__ row, int cols, float eps, int lane,
                                          float* mean_out, float* rstd_out) {
    float s = 0.0f;
    for (int c = lane; c < cols; c += 32) s += row[c];
    const float mean = warp_sum(s) / (float)cols;
    float v = 0.0f;
    for (int c = lane; c < cols; c += 32) {
        const float d = row[c] - mean;
        v += d * d;
    }
    const float var = warp_sum(v) / (float)cols;
    *mean_out = mean;
    *rstd_out = rsqrtf(var + eps);
}

// The two row means of LayerNorm's input gradient: a = mean(dy·γ), b = mean(dy·γ·x̂), over
// one warp; then dx = (1/σ)·(dy·γ − a − x̂·b).
__device__ __forceinline__ void row_grad_means(const float* __restrict__ dy, const float* __restrict__ x,
                                               const float* __restrict__ gamma, float m, float r, int cols,
                                               int lane, float* a_out, float* b_out) {
    float a = 0.0f, b = 0.0f;
    for (int c = lane; c < cols; c += 32) {
        const float gg = dy[c] * gamma[c];
        a += gg;
        b += gg * (x[c] - m) * r;
    }
    *a_out = warp_sum(a) / (float)cols;
    *b_out = warp_sum(b) / (float)cols;
}

// y = LayerNorm(x) per row, stored as T (f32, or bf16 rounded once at the store: the input
// of the next matmul under `train.precision = bf16`); the statistics in fp32.
template <class T>
__device__ __forceinline__ void layer_norm_rows(const float* __restrict__ x, const float* __restrict__ gamma,
                                                const float* __restrict__ beta, T* __restrict__ y,
                                                float* __restrict__ mean, float* __restrict__ rstd, int rows,
                                                int cols, float eps) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;  // a whole warp leaves together
    const float* xr = x + (long)row * cols;
    float m, r;
    row_stats(xr, cols, eps, lane, &m, &r);
    T* yr = y + (long)row * cols;
    for (int c = lane; c < cols; c += 32) yr[c] = stored((xr[c] - m) * r * gamma[c] + beta[c], yr);
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

extern "C" __global__ void layer_norm_forward(const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ beta, float* __restrict__ y,
                                              float* __restrict__ mean, float* __restrict__ rstd, int rows,
                                              int cols, float eps) {
    layer_norm_rows(x, gamma, beta, y, mean, rstd, rows, cols, eps);
}

// x_out = x + scale[row / tokens]·(h + bias) (scale null: 1; bias (cols,) null: 0, the
// branch's last `Linear` then leaves its bias to this kernel), then y = LayerNorm(x_out),
// stored as T (as `layer_norm_rows`).
template <class T>
__device__ __forceinline__ void residual_layer_norm_rows(
    const float* __restrict__ x, const float* __restrict__ h, const float* __restrict__ bias,
    const float* __restrict__ scale, int tokens, float* __restrict__ x_out, const float* __restrict__ gamma,
    const float* __restrict__ beta, T* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd,
    int rows, int cols, float eps) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const float s = scale ? scale[row / tokens] : 1.0f;
    const long at = (long)row * cols;
    for (int c = lane; c < cols; c += 32) {
        const float hb = bias ? h[at + c] + bias[c] : h[at + c];
        x_out[at + c] = x[at + c] + s * hb;
    }
    float m, r;
    row_stats(x_out + at, cols, eps, lane, &m, &r);
    for (int c = lane; c < cols; c += 32) y[at + c] = stored((x_out[at + c] - m) * r * gamma[c] + beta[c], y);
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

extern "C" __global__ void residual_layer_norm_forward(
    const float* __restrict__ x, const float* __restrict__ h, const float* __restrict__ bias,
    const float* __restrict__ scale, int tokens, float* __restrict__ x_out, const float* __restrict__ gamma,
    const float* __restrict__ beta, float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd,
    int rows, int cols, float eps) {
    residual_layer_norm_rows(x, h, bias, scale, tokens, x_out, gamma, beta, y, mean, rstd, rows, cols, eps);
}

// residual_layer_norm_forward with y in bf16 (the MLP's first product reads nothing else).
extern "C" __global__ void residual_layer_norm_forward_bf16(
    const float* __restrict__ x, const float* __restrict__ h, const float* __restrict__ bias,
    const float* __restrict__ scale, int tokens, float* __restrict__ x_out, const float* __restrict__ gamma,
    const float* __restrict__ beta, __nv_bfloat16* __restrict__ y, float* __restrict__ mean,
    float* __restrict__ rstd, int rows, int cols, float eps) {
    residual_layer_norm_rows(x, h, bias, scale, tokens, x_out, gamma, beta, y, mean, rstd, rows, cols, eps);
}

// dx (+)= the LayerNorm input's gradient of `dy`, per row. With `accumulate` 0 dx is
// overwritten.
extern "C" __global__ void layer_norm_backward_input(const float* __restrict__ dy, const float* __restrict__ x,
                                                     const float* __restrict__ mean,
                                                     const float* __restrict__ rstd,
                                                     const float* __restrict__ gamma, float* __restrict__ dx,
                                                     int rows, int cols, int accumulate) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const long at = (long)row * cols;
    const float m = mean[row], r = rstd[row];
    float a, b;
    row_grad_means(dy + at, x + at, gamma, m, r, cols, lane, &a, &b);
    for (int c = lane; c < cols; c += 32) {
        const float xhat = (x[at + c] - m) * r;
        const float d = r * (dy[at + c] * gamma[c] - a - xhat * b);
        dx[at + c] = accumulate ? dx[at + c] + d : d;
    }
}

// The backward of residual_layer_norm_forward's two outputs, per row: with dy the gradient
// of y and dx_out the gradient x_out received from its other uses (the next residual join),
// g = dx_out + the LayerNorm input's gradient of dy; then dx += g and
// dh += scale[row / tokens]·g (scale null: 1). dγ, dβ: layer_norm_backward_params on x_out.
extern "C" __global__ void residual_layer_norm_backward(
    const float* __restrict__ dy, const float* __restrict__ x_out, const float* __restrict__ mean,
    const float* __restrict__ rstd, const float* __restrict__ gamma, const float* __restrict__ dx_out,
    const float* __restrict__ scale, int tokens, float* __restrict__ dx, float* __restrict__ dh, int rows,
    int cols) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const long at = (long)row * cols;
    const float m = mean[row], r = rstd[row];
    const float s = scale ? scale[row / tokens] : 1.0f;
    float a, b;
    row_grad_means(dy + at, x_out + at, gamma, m, r, cols, lane, &a, &b);
    for (int c = lane; c < cols; c += 32) {
        const float xhat = (x_out[at + c] - m) * r;
        const float d = r * (dy[at + c] * gamma[c] - a - xhat * b);
        const float g = dx_out[at + c] + d;
        dx[at + c] += g;
        dh[at + c] += s * g;
    }
}

// Per part p of `rows_per_part` rows and column c: dgamma_part[p·cols + c] = Σ g·x̂,
// dbeta_part[p·cols + c] = Σ g, over the part's rows in order.
extern "C" __global__ void layer_norm_backward_params(const float* __restrict__ dy, const float* __restrict__ x,
                                                      const float* __restrict__ mean,
                                                      const float* __restrict__ rstd,
                                                      float* __restrict__ dgamma_part,
                                                      float* __restrict__ dbeta_part, int rows, int cols,
                                                      int rows_per_part) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int p = blockIdx.y;
    if (c >= cols) return;
    const int end = min(rows, (p + 1) * rows_per_part);
    float sg = 0.0f, sb = 0.0f;
    for (int row = p * rows_per_part; row < end; ++row) {
        const long at = (long)row * cols + c;
        sg += dy[at] * (x[at] - mean[row]) * rstd[row];
        sb += dy[at];
    }
    dgamma_part[(long)p * cols + c] = sg;
    dbeta_part[(long)p * cols + c] = sb;
}

// out[c] += Σ_p part[p·cols + c], the parts in order.
extern "C" __global__ void column_sum_accumulate(const float* __restrict__ part, int parts, int cols,
                                                 float* __restrict__ out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0.0f;
    for (int p = 0; p < parts; ++p) s += part[(long)p * cols + c];
    out[c] += s;
}

// layer_norm_forward with a bf16 output (the input of the next matmul under
// `train.precision = bf16`). y: (rows, cols) bf16.
extern "C" __global__ void layer_norm_forward_bf16(const float* __restrict__ x, const float* __restrict__ gamma,
                                                   const float* __restrict__ beta, __nv_bfloat16* __restrict__ y,
                                                   float* __restrict__ mean, float* __restrict__ rstd, int rows,
                                                   int cols, float eps) {
    layer_norm_rows(x, gamma, beta, y, mean, rstd, rows, cols, eps);
}
