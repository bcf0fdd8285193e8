//! The fused CPU kernels: each is one dfdx op on `Cpu` tensors of `f32` with a hand-written
//! backward, and each is what [`crate::device::Backend`]'s `Cpu` implementation runs in place
//! of the dfdx-op composition ([`crate::device::compose`]). One file per kernel family:
//! - `layer_norm`: LayerNorm over the last axis;
//! - `gelu`: exact (erf) GELU;
//! - `drop_path`: stochastic depth's per-sample scaling;
//! - `linear`: `Linear` on tokens as one product and its two backward products;
//! - `attention`: the attention sublayer (qkv, q·kᵀ, softmax, ·v for every head, proj);
//! - `mlp`: fc1, GELU, fc2;
//! - `residual`: a *branch* (attention or MLP) as an op, or as a whole pre-norm sublayer
//!   `x + s·f(LayerNorm(x))`.
//!
//! Each dfdx op allocates a fresh output and, in the backward pass, a fresh gradient; a
//! LayerNorm is ~8 such ops, and attention's head split and merge are permute copies. Here
//! each of these layers is one forward pass and one backward pass that accumulates (`+=`)
//! into the input's (and parameters') gradients, with what the backward needs saved on the
//! host. The shared helpers (products, vectorised math, buffers) are [`crate::cpu`]'s.
//!
//! Reductions never depend on rayon's scheduling: per-row sums are sequential inside a row,
//! sums across rows (γ, β and bias gradients) are taken over fixed chunks of rows whose
//! partial sums are added in order, and a matrix product splits its output, never its inner
//! dimension, across threads, so results are the same for any number of threads.

mod attention;
#[cfg(test)]
pub(crate) mod cuda_parity;
mod drop_path;
mod gelu;
mod layer_norm;
mod linear;
mod mlp;
mod residual;

pub(crate) use attention::{attention, AttentionBranch};
pub(crate) use drop_path::scale_samples;
pub(crate) use gelu::gelu;
pub(crate) use layer_norm::layer_norm;
pub(crate) use linear::linear;
pub(crate) use mlp::{mlp, MlpBranch};
pub(crate) use residual::residual;

#[cfg(test)]
pub(crate) mod tests {

    /// `f` run inside a rayon pool of `threads` threads.
    pub(crate) fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(f)
    }

    /// |a − b| ≤ 1e-5·(|b| + max|ref|) element-wise: relative to the tensor's scale.
    pub(crate) fn close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * (y.abs() + scale),
                "{what}[{i}]: fused {x} vs dfdx {y} (scale {scale})"
            );
        }
    }
}
