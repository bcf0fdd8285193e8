//! Where a graph runs, and the one seam between the model and the hardware: [`Backend`].
//!
//! A `Backend` is a dfdx device (dfdx's `Cpu`, or its `Cuda` device when deitc is built
//! with `--features cuda`) with deitc's kernel methods ([`Kernels`]): LayerNorm, `Linear`
//! on tokens, GELU, stochastic depth's per-sample scaling, the attention and MLP branches,
//! and the two residual sublayers of a pre-norm block; and with the optimizer step. Each
//! method's default body is the dfdx-op composition in [`compose`], so a device gets every
//! kernel for free and overrides only what it fuses:
//! - `Cpu` ([`cpu`]) overrides all of them with the fused CPU kernels of [`crate::fused`]
//!   and the optimizer's host path;
//! - `Cuda` (`cuda/`, with `--features cuda`) overrides LayerNorm and GELU with deitc's
//!   CUDA kernels (`crates/kernels`) and keeps the other compositions.
//!
//! The model calls `Dev::layer_norm(…)` and never asks which device it has: there is no
//! run-time type dispatch. deitc trains in `f32` only; the model's dtype parameter exists
//! for dfdx's module machinery and for the `f64` reference tests (`Kernels<f64>` on `Cpu`).

pub use error::DeviceError;

use crate::ir::{Device as DeviceIr, Precision};
use crate::train::optimizer::{Optimizer, StepInfo};
use dfdx::nn::modules::{LayerNorm1D, Linear};
use dfdx::nn::TensorCollection;
use dfdx::prelude::*;

pub mod compose;
mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
mod error;

/// Token activations `(B, T, M)` of dtype `E` on device `Dev` with tape `T`.
pub type Rows<B, Tok, const M: usize, E, Dev, T> = Tensor<(B, Tok, Const<M>), E, Dev, T>;

/// Attention scores or probabilities `(B·H, T, T)`: one `T × T` matrix per sample and head.
pub type Scores<Tok, E, Dev, T> = Tensor<(usize, Tok, Tok), E, Dev, T>;

/// The attention branch's parameters: timm's fused `qkv` `[3D, D]` (rows q | k | v, heads
/// contiguous inside each), `proj` `[D, D]`, the number of heads, and q·kᵀ's scale.
pub struct AttentionParts<'a, const D: usize, const D3: usize, E: Dtype, Dev: Storage<E>> {
    pub qkv: &'a Linear<D, D3, E, Dev>,
    pub proj: &'a Linear<D, D, E, Dev>,
    pub heads: usize,
    pub scale: f64,
}

/// The MLP branch's parameters: `fc1` `[F, D]`, `fc2` `[D, F]`, exact GELU between.
pub struct MlpParts<'a, const D: usize, const F: usize, E: Dtype, Dev: Storage<E>> {
    pub fc1: &'a Linear<D, F, E, Dev>,
    pub fc2: &'a Linear<F, D, E, Dev>,
}

/// The model's kernels on a dfdx device for dtype `E`, each defaulting to its dfdx-op
/// composition. Training is in `f32` ([`Backend`]); the CPU also has them in `f64`, all
/// composed, for the reference tests of the composition against timm.
pub trait Kernels<E: Dtype>: Device<E> {
    /// LayerNorm over the last axis of `x (B, T, M)` with `norm`'s γ, β and epsilon.
    fn layer_norm<B: Dim, Tok: Dim, const M: usize, T: Tape<E, Self>>(
        norm: &LayerNorm1D<M, E, Self>,
        x: Rows<B, Tok, M, E, Self, T>,
    ) -> Result<Rows<B, Tok, M, E, Self, T>, Self::Err> {
        compose::layer_norm(norm, x)
    }

    /// `lin` on tokens `(B, T, I)` → `(B, T, O)`.
    #[allow(clippy::type_complexity)]
    fn linear<B: Dim, Tok: Dim, const I: usize, const O: usize, T: Tape<E, Self>>(
        lin: &Linear<I, O, E, Self>,
        x: Rows<B, Tok, I, E, Self, T>,
    ) -> Result<Rows<B, Tok, O, E, Self, T>, Self::Err> {
        compose::linear(lin, x)
    }

    /// Exact (erf) GELU, `0.5·x·(1 + erf(x/√2))`, with its exact gradient.
    fn gelu<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        compose::gelu(x)
    }

    /// `x (B, T, M)` with sample b multiplied by `scales[b]` (stochastic depth's mask).
    fn scale_samples<Tok: Dim, const M: usize, T: Tape<E, Self>>(
        x: Rows<usize, Tok, M, E, Self, T>,
        scales: Vec<E>,
    ) -> Result<Rows<usize, Tok, M, E, Self, T>, Self::Err> {
        compose::scale_samples(x, scales)
    }

    /// `softmax(scale·s)` over the last axis of attention scores `s (B·H, T, T)`.
    fn scaled_softmax<Tok: Dim, T: Tape<E, Self>>(
        s: Scores<Tok, E, Self, T>,
        scale: f64,
    ) -> Result<Scores<Tok, E, Self, T>, Self::Err> {
        compose::scaled_softmax(s, scale)
    }

    /// The attention branch without dropout, `proj(softmax(q·kᵀ·scale)·v)`, on `x (B, T, D)`.
    #[allow(clippy::type_complexity)]
    fn attention<B: Dim, Tok: Dim, const D: usize, const D3: usize, T: Tape<E, Self>>(
        parts: AttentionParts<'_, D, D3, E, Self>,
        x: Rows<B, Tok, D, E, Self, T>,
    ) -> Result<Rows<B, Tok, D, E, Self, T>, Self::Err> {
        compose::attention(parts, x)
    }

    /// The MLP branch without dropout, `fc2(gelu(fc1(x)))`, on `x (B, T, D)`.
    fn mlp<B: Dim, Tok: Dim, const D: usize, const F: usize, T: Tape<E, Self>>(
        parts: MlpParts<'_, D, F, E, Self>,
        x: Rows<B, Tok, D, E, Self, T>,
    ) -> Result<Rows<B, Tok, D, E, Self, T>, Self::Err> {
        compose::mlp(parts, x)
    }

    /// A pre-norm block's attention sublayer without dropout, `x + s_b·attention(norm(x))`,
    /// with `scales` stochastic depth's per-sample `s_b` (none: 1).
    #[allow(clippy::type_complexity)]
    fn attention_sublayer<Tok: Dim, const D: usize, const D3: usize, T: Tape<E, Self>>(
        norm: &LayerNorm1D<D, E, Self>,
        parts: AttentionParts<'_, D, D3, E, Self>,
        x: Rows<usize, Tok, D, E, Self, T>,
        scales: Option<Vec<E>>,
    ) -> Result<Rows<usize, Tok, D, E, Self, T>, Self::Err> {
        compose::attention_sublayer(norm, parts, x, scales)
    }

    /// A pre-norm block's MLP sublayer without dropout, `x + s_b·mlp(norm(x))`.
    fn mlp_sublayer<Tok: Dim, const D: usize, const F: usize, T: Tape<E, Self>>(
        norm: &LayerNorm1D<D, E, Self>,
        parts: MlpParts<'_, D, F, E, Self>,
        x: Rows<usize, Tok, D, E, Self, T>,
        scales: Option<Vec<E>>,
    ) -> Result<Rows<usize, Tok, D, E, Self, T>, Self::Err> {
        compose::mlp_sublayer(norm, parts, x, scales)
    }
}

/// A dfdx device deitc trains on: its `f32` [`Kernels`], how to open it, and the
/// optimizer step.
pub trait Backend: Kernels<f32> + TensorToArray<(), f32, Array = f32> + Clone + 'static {
    /// The device's name as the language spells it (`train.device`).
    const NAME: &'static str;

    /// Opens the device with its random generator seeded from `seed`.
    fn open(seed: u64) -> Result<Self, String>;

    /// Sets how matrix products run for `train.precision`. By default (the CPU) they stay
    /// fp32, and the checker warns that a tf32 or bf16 recipe trains in fp32.
    fn set_precision(&self, precision: Precision) -> Result<(), String> {
        let _ = precision;
        Ok(())
    }

    /// One optimizer step of every parameter of `model` from `grads` at learning rate `lr`:
    /// by default as tensor ops on the device, the moments kept there.
    fn optimizer_step<M: TensorCollection<f32, Self>>(
        opt: &mut Optimizer<Self>,
        model: &mut M,
        grads: &mut Gradients<f32, Self>,
        lr: f64,
    ) -> Result<StepInfo, Self::Err> {
        opt.step_on_device(model, grads, lr)
    }
}

/// Whether this build of deitc can run on `device`.
pub fn available(device: DeviceIr) -> bool {
    match device {
        DeviceIr::Cpu => true,
        DeviceIr::Cuda => cfg!(feature = "cuda"),
    }
}
