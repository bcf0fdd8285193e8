// What every deitc kernel includes: the device's bf16 type (or the CPU simulator's), and
// the warp and block reductions the kernels share.
//
// Every kernel is `extern "C" __global__` (NVRTC finds it by name) and reduces with whole
// warps: every thread of a block reaches every shuffle and `__syncthreads`.
#pragma once

#ifdef DEITC_SIM
#include "cuda_sim.h"
#else
#include <cuda_bf16.h>
#define DEITC_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
// NVRTC has no host <math.h>: INFINITY as the device's bit pattern.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#endif

#define DEITC_FULL_MASK 0xffffffffu

// `x` as stored in an output of element type T (the pointer picks it): f32 as it is, bf16
// rounded to nearest even once. For kernels that write either.
__device__ __forceinline__ float stored(float x, float*) { return x; }
__device__ __forceinline__ __nv_bfloat16 stored(float x, __nv_bfloat16*) { return __float2bfloat16(x); }

// The sum of `v` over the warp, in every lane.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(DEITC_FULL_MASK, v, o);
    return v;
}

// The maximum of `v` over the warp, in every lane.
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(DEITC_FULL_MASK, v, o));
    return v;
}

// The sum of `v` over the block (at most 32 warps), in every thread. `scratch` holds 32
// floats of shared memory; the call ends with a barrier, so it can be reused at once.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}

// The maximum of `v` over the block, like `block_sum`.
__device__ __forceinline__ float block_max(float v, float* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    v = warp_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -INFINITY;
    v = warp_max(v);
    __syncthreads();
    return v;
}
