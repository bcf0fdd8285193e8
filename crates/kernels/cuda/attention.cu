// The attention branch's head layouts: the copies between timm's token rows and the
// `(B·H, T, hd)` head matrices the batched products (cuBLAS) run on, forward and backward.
//
// Rows: qkv `(B, T, 3D)` holds q | k | v in its columns, heads contiguous inside each: head h
// of part p (0 q, 1 k, 2 v) is columns `p·D + h·hd + j`, j < hd, D = H·hd. The merged output
// `(B, T, D)` holds head h in columns `h·hd + j`. Heads: element (b·H + h, t, j) of a
// contiguous `(B·H, T, hd)` tensor, at `((b·H + h)·T + t)·hd + j`.
//
//   qkv_to_heads   q, k, v = the three parts of qkv as heads, the qkv bias added on the
//                  way when given (k is not transposed: cuBLAS reads it as the transposed
//                  operand of q·kᵀ without a copy); `qkv_to_heads_bf16` writes them in bf16;
//   heads_to_qkv   dqkv (+)= dq | dk | dv in qkv's layout (its backward);
//   heads_to_rows  y = the heads of o merged into rows (B, T, D);
//   rows_to_heads  do (+)= dy as heads (its backward).
//
// Each kernel writes (or accumulates into) one element of its output per thread, at
// consecutive addresses, and gathers its input: each output element has exactly one source,
// so the copies are exact and the accumulations one addition each. The backwards add into
// the gradient when `accumulate` is set, and otherwise overwrite it without reading it (the
// first writer of a new, uninitialised gradient).
//
// Launch (the crate's `launch` module): one thread per output element, no grid-stride
// (`launch::per_element`). Sizes are `int`s; element indices are `long`.
#include "common.cuh"

// Where element `r` of a `(B·H, T, hd)` head tensor lives in row layout: row (b, t) of
// `width` columns, column `col0 + h·hd + j`.
__device__ __forceinline__ long head_to_row(long r, int tokens, int heads, int head_dim, int width, int col0) {
    const long per_head = (long)tokens * head_dim;
    const long bh = r / per_head;
    const int in_head = (int)(r - bh * per_head);
    const int t = in_head / head_dim, j = in_head - t * head_dim;
    const long b = bh / heads;
    const int h = (int)(bh - b * heads);
    return (b * tokens + t) * width + col0 + h * head_dim + j;
}

// Where element `i` of a `(B, T, D)` row tensor (D = H·hd) lives in a `(B·H, T, hd)` head
// tensor.
__device__ __forceinline__ long row_to_head(long i, int tokens, int heads, int head_dim) {
    const int dim = heads * head_dim;
    const long row = i / dim;
    const int c = (int)(i - row * dim);
    const long b = row / tokens;
    const int t = (int)(row - b * tokens);
    const int h = c / head_dim, j = c - h * head_dim;
    return ((b * heads + h) * tokens + t) * head_dim + j;
}

// q, k, v[r] = qkv at head element r of part 0, 1, 2, plus the qkv `Linear`'s bias for that
// column when `bias` (3D,) is given (the product then writes qkv without it), stored as T
// (f32, or bf16 rounded once). qkv: (B, T, 3D); q, k, v: (B·H, T, hd). One thread per
// element of q | k | v (3·B·T·D).
template <class T>
__device__ __forceinline__ void split_heads(const float* __restrict__ qkv, const float* __restrict__ bias,
                                            T* __restrict__ q, T* __restrict__ k, T* __restrict__ v, int batch,
                                            int tokens, int heads, int head_dim) {
    const long n = (long)batch * tokens * heads * head_dim;
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= 3 * n) return;
    const int part = (int)(i / n);
    const long r = i - part * n;
    const int dim = heads * head_dim;
    const long at = head_to_row(r, tokens, heads, head_dim, 3 * dim, part * dim);
    const float x = bias ? qkv[at] + bias[at % (3 * dim)] : qkv[at];
    T* out = part == 0 ? q : part == 1 ? k : v;
    out[r] = stored(x, out);
}

extern "C" __global__ void qkv_to_heads(const float* __restrict__ qkv, const float* __restrict__ bias,
                                        float* __restrict__ q, float* __restrict__ k, float* __restrict__ v,
                                        int batch, int tokens, int heads, int head_dim) {
    split_heads(qkv, bias, q, k, v, batch, tokens, heads, head_dim);
}

// The same split written in bf16: under `train.precision = bf16` the heads are only ever
// product operands, so no fp32 copy is written.
extern "C" __global__ void qkv_to_heads_bf16(const float* __restrict__ qkv, const float* __restrict__ bias,
                                             __nv_bfloat16* __restrict__ q, __nv_bfloat16* __restrict__ k,
                                             __nv_bfloat16* __restrict__ v, int batch, int tokens, int heads,
                                             int head_dim) {
    split_heads(qkv, bias, q, k, v, batch, tokens, heads, head_dim);
}

// dqkv (+)= dq | dk | dv, each head element added to (or written at) its qkv column. dq, dk,
// dv: (B·H, T, hd); dqkv: (B, T, 3D). One thread per element of dqkv.
extern "C" __global__ void heads_to_qkv(const float* __restrict__ dq, const float* __restrict__ dk,
                                        const float* __restrict__ dv, float* __restrict__ dqkv, int batch,
                                        int tokens, int heads, int head_dim, int accumulate) {
    const int dim = heads * head_dim;
    const long n = (long)batch * tokens * dim;
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= 3 * n) return;
    const long row = i / (3 * dim);
    const int c = (int)(i - row * 3 * dim);
    const int part = c / dim;
    const float* src = part == 0 ? dq : part == 1 ? dk : dv;
    const float g = src[row_to_head(row * dim + (c - part * dim), tokens, heads, head_dim)];
    dqkv[i] = accumulate ? dqkv[i] + g : g;
}

// y = the heads of o merged into rows. o: (B·H, T, hd); y: (B, T, D). One thread per
// element of y.
extern "C" __global__ void heads_to_rows(const float* __restrict__ o, float* __restrict__ y, int batch,
                                         int tokens, int heads, int head_dim) {
    const long n = (long)batch * tokens * heads * head_dim;
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    y[i] = o[row_to_head(i, tokens, heads, head_dim)];
}

// d_o (+)= dy as heads. dy: (B, T, D); d_o: (B·H, T, hd). One thread per element of d_o.
extern "C" __global__ void rows_to_heads(const float* __restrict__ dy, float* __restrict__ d_o, int batch,
                                         int tokens, int heads, int head_dim, int accumulate) {
    const long n = (long)batch * tokens * heads * head_dim;
    const long r = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    const float g = dy[head_to_row(r, tokens, heads, head_dim, heads * head_dim, 0)];
    d_o[r] = accumulate ? d_o[r] + g : g;
}
