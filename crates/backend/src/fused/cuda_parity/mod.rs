//! The CUDA kernels (`deitc-kernels`), run by its CPU simulator with the launch
//! configurations the GPU uses, against these CPU fused kernels: forward and backward, on
//! small shapes and edge shapes (rows not a multiple of a block's warps, widths not a
//! multiple of a warp, one row, large values, NaN confined to its row). One file per kernel
//! family.

mod attention;
mod cross_entropy;
mod drop_path;
mod dropout;
mod gelu;
mod layer_norm;
mod linear;
mod residual;
mod softmax;

/// Deterministic values in [-amp, amp).
pub(crate) fn values(n: usize, seed: u64, amp: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amp
        })
        .collect()
}
