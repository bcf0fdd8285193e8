// The residual join of a pre-norm block's sublayer, forward and backward, over row-major
// tokens (B, T, D) seen as one flat buffer of n = B·T·D values, each sample `per_sample` =
// T·D of them:
//   forward   y = x + s[b]·(h + bias[c]) (c = i mod cols; without a bias y = x + s[b]·h:
//             the branch's last `Linear` then leaves its bias to this kernel),
//   backward  dx += dy,  dh += s[b]·dy,
// with s (B,) stochastic depth's per-sample scale (`drop_path_scales` of regularization.cu:
// 1/keep or 0), or 1 when the scale pointer is null. The products are rounded before the
// add (no fused multiply-add on the device), as the CPU computes them, so both give the
// same bits.
//
// Launch: one thread per element (the crate's `launch::per_element`).
#include "common.cuh"

// a·b rounded to f32 on its own: NVRTC would otherwise contract `c + a·b` into one fma.
__device__ __forceinline__ float residual_mul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

// y = x + scale[b]·(h + bias[c]) for element i of sample b = i / per_sample, column
// c = i mod cols; x, h, y: (n,), scale: (n / per_sample,) or null, bias: (cols,) or null.
extern "C" __global__ void residual_add_forward(const float* __restrict__ x, const float* __restrict__ h,
                                                const float* __restrict__ bias, const float* __restrict__ scale,
                                                float* __restrict__ y, int n, int per_sample, int cols) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float hb = bias ? h[i] + bias[i % cols] : h[i];
    y[i] = scale ? x[i] + residual_mul(hb, scale[i / per_sample]) : x[i] + hb;
}

// dx += dy and dh += scale[b]·dy for element i of sample b = i / per_sample; dy, dx, dh:
// (n,), scale: (n / per_sample,) or null. Both gradients accumulate.
extern "C" __global__ void residual_add_backward(const float* __restrict__ dy, const float* __restrict__ scale,
                                                 float* __restrict__ dx, float* __restrict__ dh, int n,
                                                 int per_sample) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = dy[i];
    dx[i] += g;
    dh[i] += scale ? residual_mul(g, scale[i / per_sample]) : g;
}
