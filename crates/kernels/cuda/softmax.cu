// The attention softmax over the rows of a row-major (rows, cols) score matrix, with the
// q·kᵀ scale folded in, forward and backward (rows = B·H·T query rows, cols = T keys).
//
// Forward, per row: z = scale·s, p = exp(z − max z) / Σ exp(z − max z). Subtracting the
// row's maximum keeps large logits finite; a NaN in a row makes that row NaN (the maximum
// skips it, exp and the sum do not) and no other.
// Backward, per row, from the output's gradient dp: ds = scale·p ⊙ (dp − Σ_j dp_j·p_j),
// written into ds, or with `accumulate` added to what ds holds.
//
// Both run one warp per row, as many rows per block as the block has warps (the crate's
// `launch::per_row`); cols is arbitrary. Every element is read and written by one lane
// only, each read before that lane's write, so `p` may be `s` and `ds` may be `dp` (in
// place, as the CPU kernels run, without `accumulate`): those pointers are not
// `__restrict__`.
#include "common.cuh"

// p = softmax(scale·s) per row; s, p: (rows, cols).
extern "C" __global__ void softmax_forward(const float* s, float* p, int rows, int cols, float scale) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;  // a whole warp leaves together
    const long at = (long)row * cols;
    float m = -INFINITY;
    for (int c = lane; c < cols; c += 32) m = fmaxf(m, scale * s[at + c]);
    m = warp_max(m);
    // p holds exp(z − max) until the sum is known.
    float sum = 0.0f;
    for (int c = lane; c < cols; c += 32) {
        const float e = expf(scale * s[at + c] - m);
        p[at + c] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    for (int c = lane; c < cols; c += 32) p[at + c] = p[at + c] / sum;
}

// ds = scale·p ⊙ (dp − Σ_j dp_j·p_j) per row, p read as P (f32 or bf16) and ds stored as D:
// f32, overwritten or with `accumulate` added to, or bf16 (overwritten, rounded once: the
// operand of the attention's two backward products). p, dp, ds: (rows, cols).
__device__ __forceinline__ float value(float x) { return x; }
__device__ __forceinline__ float value(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ void put(float* ds, float g, int accumulate) { *ds = accumulate ? *ds + g : g; }
__device__ __forceinline__ void put(__nv_bfloat16* ds, float g, int) { *ds = __float2bfloat16(g); }

template <class P, class D>
__device__ __forceinline__ void softmax_backward_rows(const P* __restrict__ p, const float* dp, D* ds, int rows,
                                                      int cols, float scale, int accumulate) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const long at = (long)row * cols;
    float dot = 0.0f;
    for (int c = lane; c < cols; c += 32) dot += dp[at + c] * value(p[at + c]);
    dot = warp_sum(dot);
    for (int c = lane; c < cols; c += 32) put(ds + at + c, scale * (value(p[at + c]) * (dp[at + c] - dot)), accumulate);
}

extern "C" __global__ void softmax_backward(const float* __restrict__ p, const float* dp, float* ds, int rows,
                                            int cols, float scale, int accumulate) {
    softmax_backward_rows(p, dp, ds, rows, cols, scale, accumulate);
}

// Under `train.precision = bf16`, the probabilities are kept once, in bf16: the input of the
// p·v product and what the backward reads. The forward recomputes exp(z − max) in its last
// pass instead of storing it (p is bf16), rounding once at the store; the backward reads p
// from bf16. p: (rows, cols) bf16; s, dp, ds: (rows, cols) f32.
extern "C" __global__ void softmax_forward_bf16(const float* __restrict__ s, __nv_bfloat16* __restrict__ p,
                                                int rows, int cols, float scale) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    const long at = (long)row * cols;
    float m = -INFINITY;
    for (int c = lane; c < cols; c += 32) m = fmaxf(m, scale * s[at + c]);
    m = warp_max(m);
    float sum = 0.0f;
    for (int c = lane; c < cols; c += 32) sum += expf(scale * s[at + c] - m);
    sum = warp_sum(sum);
    for (int c = lane; c < cols; c += 32) p[at + c] = __float2bfloat16(expf(scale * s[at + c] - m) / sum);
}

// ds (+)= scale·p ⊙ (dp − Σ_j dp_j·p_j) per row, with p in bf16.
extern "C" __global__ void softmax_backward_bf16(const __nv_bfloat16* __restrict__ p, const float* __restrict__ dp,
                                                 float* __restrict__ ds, int rows, int cols, float scale,
                                                 int accumulate) {
    softmax_backward_rows(p, dp, ds, rows, cols, scale, accumulate);
}

// The same with ds written in bf16 (overwritten): what the attention core's backward feeds
// its two products, with no fp32 ds written and converted.
extern "C" __global__ void softmax_backward_bf16_out(const __nv_bfloat16* __restrict__ p,
                                                     const float* __restrict__ dp, __nv_bfloat16* __restrict__ ds,
                                                     int rows, int cols, float scale) {
    softmax_backward_rows(p, dp, ds, rows, cols, scale, 0);
}
