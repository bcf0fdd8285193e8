// The masks of a training step drawn on the device, from the same counters as the CPU
// (crates/backend/src/device/mod.rs, `DropPath::scales` and `Dropout::scale`):
//  - stochastic depth: sample b of a branch whose stream is `seed` takes SplitMix64's
//    (b+1)-th output from `seed` — the generator is a counter, so each sample's draw is
//    independent of the others — as a 53-bit uniform u, and scale[b] = 1/keep when
//    u < keep, else 0;
//  - dropout: element i of a call plays the role of sample b, its (i+1)-th output deciding
//    whether x[i] is kept (times 1/keep) or zeroed. The mask is recomputed in the backward,
//    never stored.
// The masks of a step are therefore the same bits on the CPU and the GPU.
//
// Launch: one thread per sample or element (the crate's `launch::per_element`).
#include "common.cuh"

// SplitMix64's output function of the state after an increment.
__device__ __forceinline__ unsigned long long splitmix64_mix(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// scale: (batch,); keep = 1 − rate, in (0, 1).
extern "C" __global__ void drop_path_scales(unsigned long long seed, double keep, float* __restrict__ scale,
                                            int batch) {
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= batch) return;
    const unsigned long long state = seed + (unsigned long long)(b + 1) * 0x9E3779B97F4A7C15ULL;
    const double u = (double)(splitmix64_mix(state) >> 11) * (1.0 / 9007199254740992.0);
    scale[b] = u < keep ? (float)(1.0 / keep) : 0.0f;
}

// The 53-bit uniform of counter k (from 1) of the stream `seed` is below keep, compared in
// integers: u = m·2⁻⁵³ with m = output >> 11 an integer, and m·2⁻⁵³ < keep ⟺ m < keep·2⁵³
// (exact: a power-of-two scale) ⟺ m < ⌈keep·2⁵³⌉ = threshold. No fp64 per element.
__device__ __forceinline__ bool dropout_kept(unsigned long long seed, long long k, unsigned long long threshold) {
    const unsigned long long state = seed + (unsigned long long)k * 0x9E3779B97F4A7C15ULL;
    return (splitmix64_mix(state) >> 11) < threshold;
}

// ⌈keep·2⁵³⌉, the integer bound of `dropout_kept` (0 when keep ≤ 0: nothing is kept).
__device__ __forceinline__ unsigned long long dropout_threshold(double keep) {
    return keep > 0.0 ? (unsigned long long)ceil(keep * 9007199254740992.0) : 0ULL;
}

// a·b rounded to f32 on its own: NVRTC would otherwise contract `c + a·b` into one fma.
__device__ __forceinline__ float dropout_mul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

// y[i] = x[i]·s_i with s_i = 1/keep for a kept element, else 0 (a product, so a dropped
// −x or NaN gives −0 or NaN, as the CPU's multiply by its mask does); x, y: (n,).
// keep = 1 − rate, in (0, 1].
extern "C" __global__ void dropout_forward(const float* __restrict__ x, float* __restrict__ y, int n,
                                           unsigned long long seed, double keep) {
    const unsigned long long threshold = dropout_threshold(keep);
    const float kept = (float)(1.0 / keep);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        y[i] = x[i] * (dropout_kept(seed, i + 1, threshold) ? kept : 0.0f);
    }
}

// dx[i] += dy[i]·s_i, the forward's mask recomputed from (seed, keep); dy, dx: (n,).
extern "C" __global__ void dropout_backward(const float* __restrict__ dy, float* __restrict__ dx, int n,
                                            unsigned long long seed, double keep) {
    const unsigned long long threshold = dropout_threshold(keep);
    const float kept = (float)(1.0 / keep);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        dx[i] += dropout_mul(dy[i], dropout_kept(seed, i + 1, threshold) ? kept : 0.0f);
    }
}
