// Stochastic depth's per-sample scales drawn on the device, from the same counters as the
// CPU (crates/backend/src/model/regularization.rs, `drop_path_scales`): sample b of a
// branch whose stream is `seed` takes SplitMix64's (b+1)-th output from `seed` — the
// generator is a counter, so each sample's draw is independent of the others — as a 53-bit
// uniform u, and scale[b] = 1/keep when u < keep, else 0. The masks of a step are therefore
// the same bits on the CPU and the GPU.
//
// Launch: one thread per sample (the crate's `launch::per_element`).
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
