// The optimizer step over flat fp32 buffers: every trainable parameter concatenated into one
// buffer `p` (n,), its gradient `g`, its moments `m`, `v` and its EMA copy `e` in buffers of
// the same layout (n,). The arithmetic is deitc's CPU optimizer's
// (crates/backend/src/train/optimizer/host.rs) and the EMA's (dfdx's `ModelEMA`), operation
// for operation, in f32 where the host path rounds f64 intermediates:
//
//   clip:  Σ g² (per-block partial sums, then the partials in order: no atomics), and
//          c = min(1, max_norm / (√Σg² + 1e-6))   (1 without clipping), torch's clip_grad_norm_;
//          c = NaN when Σ g² is not finite, and every update given that c leaves its
//          parameters and moments as they are: a step whose gradients hold a NaN or an
//          infinity is not applied (the host reads Σ g² with the step's losses and stops)
//   AdamW: ĝ = g·c;  m = β₁·m + (1−β₁)·ĝ;  v = β₂·v + (1−β₂)·ĝ·ĝ;
//          p = p·(1 − lr·wd) − (lr/bc₁)·m / (√v / √bc₂ + ε),   bc_i = 1 − β_iᵗ (t from 1)
//   SGD:   ĝ = g·c + wd·p;  b = ĝ (first step) or μ·b + ĝ;  m = b;  p = p − lr·b
//   EMA:   e = e·decay + p·(1 − decay)
//
// The step's constants ((1 − lr·wd), lr/bc₁, √bc₂, 1 − β_i, 1 − decay) are computed on the
// host in f64 as the CPU path computes them and passed rounded to f32 (the crate's
// `launch::AdamwArgs`, `SgdArgs`, `EmaArgs`). Weight decay applies where `decay_mask` is
// nonzero (one float per element: 1 decays, 0 does not), or everywhere when it is null, so
// one launch serves both decay groups; a caller whose groups are contiguous can instead
// launch once per group on the sub-buffers, with a null mask or wd = 0. `clip` points at c
// on the device (`grad_sq_sum_finish`'s out[1]) or is null for c = 1.
//
// Launch (the crate's `launch` module): the element-wise kernels one thread per element, no
// grid-stride (`launch::per_element`); the partial sums one block per
// `launch::SQ_SUM_PER_BLOCK` elements, and the finish one block (`launch::sq_sum_partial`,
// `launch::sq_sum_finish`), both with 32 floats of dynamic shared memory.
#include "common.cuh"

// Per block b: partial[b] = Σ g[i]² over i in [b·per_block, min(n, (b+1)·per_block)); each
// thread sums its elements (stride blockDim.x) in order, then the block's fixed tree.
// g: (n,); partial: (gridDim.x,).
extern "C" __global__ void grad_sq_sum_partial(const float* __restrict__ g, int n, int per_block,
                                               float* __restrict__ partial) {
    DEITC_DYNAMIC_SHARED(float, scratch);  // 32 floats
    const long start = (long)blockIdx.x * per_block;
    const long end = min((long)n, start + (long)per_block);
    float s = 0.0f;
    for (long i = start + threadIdx.x; i < end; i += blockDim.x) s += g[i] * g[i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// One block: out[0] = Σ partial (each thread its partials, stride blockDim.x, in order, then
// the block's fixed tree) = Σ g², out[1] = the clip factor c for `max_norm` (max_norm < 0:
// no clipping, c = 1), or NaN when Σ g² is not finite (the updates then skip the step).
// partial: (parts,); out: (2,).
extern "C" __global__ void grad_sq_sum_finish(const float* __restrict__ partial, int parts, float max_norm,
                                              float* __restrict__ out) {
    DEITC_DYNAMIC_SHARED(float, scratch);  // 32 floats
    float s = 0.0f;
    for (int i = threadIdx.x; i < parts; i += blockDim.x) s += partial[i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) {
        out[0] = s;
        const bool finite = s - s == 0.0f;  // false for NaN and ±inf
        out[1] = !finite ? __int_as_float(0x7fc00000) : max_norm < 0.0f ? 1.0f : fminf(max_norm / (sqrtf(s) + 1e-6f), 1.0f);
    }
}

// One AdamW step of every element (see the top). `decay` = (1 − lr·wd) for decayed elements
// (those elements not decayed multiply by 1), `step_size` = lr/bc₁, `sqrt_bc2` = √bc₂.
// p, g, m, v, decay_mask: (n,); clip: (1,) or null; decay_mask may be null.
extern "C" __global__ void adamw_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                      float* __restrict__ v, const float* __restrict__ decay_mask,
                                      const float* __restrict__ clip, int n, float decay, float beta1,
                                      float beta2, float one_minus_beta1, float one_minus_beta2,
                                      float step_size, float sqrt_bc2, float eps) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float c = clip ? clip[0] : 1.0f;
    if (c != c) return;  // NaN: the step is not applied
    const float gi = g[i] * c;
    const float mi = beta1 * m[i] + one_minus_beta1 * gi;
    const float vi = beta2 * v[i] + one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float d = (decay_mask == nullptr || decay_mask[i] != 0.0f) ? decay : 1.0f;
    const float denom = sqrtf(vi) / sqrt_bc2 + eps;
    p[i] = p[i] * d - step_size * mi / denom;
}

// One step of SGD with momentum (dampening 0) and L2 weight decay `weight_decay` where
// decayed (see the top); `first` nonzero on the first step, when the momentum buffer becomes
// the gradient itself (torch's rule). p, g, m, decay_mask: (n,); clip: (1,) or null.
extern "C" __global__ void sgd_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                    const float* __restrict__ decay_mask, const float* __restrict__ clip, int n,
                                    float lr, float weight_decay, float momentum, int first) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float c = clip ? clip[0] : 1.0f;
    if (c != c) return;  // NaN: the step is not applied
    const float wd = (decay_mask == nullptr || decay_mask[i] != 0.0f) ? weight_decay : 0.0f;
    const float gi = g[i] * c + wd * p[i];
    const float b = first ? gi : momentum * m[i] + gi;
    m[i] = b;
    p[i] = p[i] - lr * b;
}

// The model EMA: e = e·decay + p·one_minus_decay. e, p: (n,).
extern "C" __global__ void ema_update(float* __restrict__ e, const float* __restrict__ p, int n, float decay,
                                      float one_minus_decay) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    e[i] = e[i] * decay + p[i] * one_minus_decay;
}

// AdamW over many tensors in one launch: `slots` lists each tensor's buffers, length and
// per-tensor factors, `chunks` cuts them into pieces of at most `chunk_len` elements, one
// block per piece (gridDim.x = number of chunks). Each element's arithmetic is
// `adamw_step`'s, with the slot's `decay` (1 − lr·wd, or 1) and `step_size` (lr/bc₁).
// The layouts are the crate's `plan::AdamwSlot` and `plan::Chunk` (#[repr(C)]); the tables
// come from `plan::adamw_table`, `sum_table` and `ema_table`.
struct AdamwSlot {
    float* p;
    const float* g;
    float* m;
    float* v;
    long long n;
    float decay;
    float step_size;
};

struct Chunk {
    int slot;
    int start;
};

extern "C" __global__ void adamw_multi(const AdamwSlot* __restrict__ slots, const Chunk* __restrict__ chunks,
                                       int chunk_len, const float* __restrict__ clip, float beta1, float beta2,
                                       float one_minus_beta1, float one_minus_beta2, float sqrt_bc2, float eps) {
    const Chunk ch = chunks[blockIdx.x];
    const AdamwSlot s = slots[ch.slot];
    const long end = min((long)s.n, (long)ch.start + chunk_len);
    const float c = clip ? clip[0] : 1.0f;
    if (c != c) return;  // NaN: the step is not applied
    for (long i = (long)ch.start + threadIdx.x; i < end; i += blockDim.x) {
        const float gi = s.g[i] * c;
        const float mi = beta1 * s.m[i] + one_minus_beta1 * gi;
        const float vi = beta2 * s.v[i] + one_minus_beta2 * gi * gi;
        s.m[i] = mi;
        s.v[i] = vi;
        const float denom = sqrtf(vi) / sqrt_bc2 + eps;
        s.p[i] = s.p[i] * s.decay - s.step_size * mi / denom;
    }
}

// grad_sq_sum_partial over many gradients in one launch: block b sums the squares of chunk
// b (at most `per_block` elements of one gradient) exactly as `grad_sq_sum_partial` sums
// its block, into partial[b]. Layout: the crate's `plan::SumSlot`.
struct SumSlot {
    const float* g;
    long long n;
};

extern "C" __global__ void grad_sq_sum_multi(const SumSlot* __restrict__ slots, const Chunk* __restrict__ chunks,
                                             int per_block, float* __restrict__ partial) {
    DEITC_DYNAMIC_SHARED(float, scratch);  // 32 floats
    const Chunk ch = chunks[blockIdx.x];
    const SumSlot s = slots[ch.slot];
    const long start = ch.start;
    const long end = min((long)s.n, start + (long)per_block);
    float sum = 0.0f;
    for (long i = start + threadIdx.x; i < end; i += blockDim.x) sum += s.g[i] * s.g[i];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// The model EMA over many tensors in one launch, `ema_update`'s arithmetic. Layout: the
// crate's `plan::EmaSlot`.
struct EmaSlot {
    float* e;
    const float* p;
    long long n;
};

extern "C" __global__ void ema_multi(const EmaSlot* __restrict__ slots, const Chunk* __restrict__ chunks,
                                     int chunk_len, float decay, float one_minus_decay) {
    const Chunk ch = chunks[blockIdx.x];
    const EmaSlot s = slots[ch.slot];
    const long end = min((long)s.n, (long)ch.start + chunk_len);
    for (long i = (long)ch.start + threadIdx.x; i < end; i += blockDim.x)
        s.e[i] = s.e[i] * decay + s.p[i] * one_minus_decay;
}
