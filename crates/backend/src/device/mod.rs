//! Where a graph runs, and the one seam between the model and the hardware: [`Backend`].
//!
//! A `Backend` is a dfdx device (dfdx's `Cpu`, or its `Cuda` device when deitc is built
//! with `--features cuda`) with deitc's kernel methods ([`Kernels`]): LayerNorm, `Linear`
//! on tokens, GELU, stochastic depth's per-sample scaling, dropout, the attention and MLP
//! branches, the two residual sublayers of a pre-norm block and the block; and with the training
//! losses, the optimizer step and the EMA. Each method's default body is the dfdx-op
//! composition (in [`compose`], [`crate::train::losses`]), so a device gets every kernel for
//! free and overrides only what it fuses:
//! - `Cpu` ([`cpu`]) overrides all of its kernels but dropout with the fused CPU kernels of
//!   [`crate::fused`] and the optimizer's host path (the losses and the EMA stay dfdx's);
//! - `Cuda` (`cuda/`, with `--features cuda`) overrides `Linear` (cuBLAS, fp32/TF32/bf16),
//!   LayerNorm, GELU, the softmax, the attention's head layout, the residual joins (the
//!   block fusing the attention's join with the MLP's LayerNorm), dropout, the losses and
//!   the EMA with deitc's CUDA kernels (`crates/kernels`), and keeps the MLP's
//!   composition of them ([`composed`] sends any fused op back to its composition, to
//!   measure or isolate it).
//!
//! The model calls `Dev::layer_norm(…)` and never asks which device it has: there is no
//! run-time type dispatch. deitc trains in `f32` only; the model's dtype parameter exists
//! for dfdx's module machinery and for the `f64` reference tests (`Kernels<f64>` on `Cpu`).

pub use error::DeviceError;

use crate::ir::{Device as DeviceIr, Precision};
use crate::model::Logits;
use crate::train::losses;
use crate::train::optimizer::{Optimizer, StepInfo};
use dfdx::nn::modules::{LayerNorm1D, Linear};
use dfdx::nn::{ModelEMA, TensorCollection};
use dfdx::prelude::*;

pub mod compose;
pub mod composed;
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

/// Stochastic depth on one residual branch of one step: each sample's branch is kept with
/// probability `keep = 1 − rate` and scaled by `1/keep`, or zeroed (timm's `drop_path` with
/// `scale_by_keep`), the masks drawn from `seed`. A descriptor of the draw, not the draw:
/// the CPU draws the scales on the host ([`DropPath::scales`]), the GPU in one launch of
/// `drop_path_scales`, the same bits either way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropPath {
    pub rate: f64,
    pub seed: u64,
}

impl DropPath {
    /// The draw at `rate` from `seed`, or `None` when `rate ≤ 0` (no stochastic depth).
    pub fn new(rate: f64, seed: u64) -> Option<DropPath> {
        (rate > 0.0).then_some(DropPath { rate, seed })
    }

    /// The per-sample scales of `batch` samples: `1/keep` for a kept sample, 0 for a dropped
    /// one. Sample b takes SplitMix64's (b+1)-th output from `seed` as a 53-bit uniform `u`
    /// and is kept when `u < keep`. SplitMix64 is a counter (its state after b+1 steps is
    /// `seed + (b+1)·γ`), so this is the sequential stream, and each sample's draw stands
    /// alone, as the GPU kernel (`cuda/regularization.cu`) draws it, one thread per sample.
    pub fn scales<E: Dtype>(self, batch: usize) -> Vec<E> {
        let keep = 1.0 - self.rate;
        let kept = E::from_f64(1.0 / keep).unwrap_or_default();
        (0..batch as u64)
            .map(|b| match splitmix64_uniform(self.seed, b + 1) < keep {
                true => kept,
                false => E::default(),
            })
            .collect()
    }
}

/// Dropout at one site of one step: each element of the call is kept with probability
/// `keep = 1 − rate` and scaled by `1/keep`, or zeroed, the mask drawn from `seed`. Like
/// [`DropPath`] a descriptor of the draw: element i plays the role of sample b (SplitMix64's
/// (i+1)-th output from `seed` as a 53-bit uniform, kept when below `keep`), so the host's
/// mask ([`Dropout::mask`]) and the GPU's (`dropout_forward` of `cuda/regularization.cu`,
/// which redraws it in the backward) are the same bits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    pub rate: f64,
    pub seed: u64,
}

impl Dropout {
    /// The draw at `rate` from `seed`, or `None` when `rate ≤ 0` (no dropout).
    pub fn new(rate: f64, seed: u64) -> Option<Dropout> {
        (rate > 0.0).then_some(Dropout { rate, seed })
    }

    /// Element `i`'s factor: `1/keep` when kept, else 0.
    pub fn scale<E: Dtype>(self, i: u64) -> E {
        let keep = 1.0 - self.rate;
        match splitmix64_uniform(self.seed, i.wrapping_add(1)) < keep {
            true => E::from_f64(1.0 / keep).unwrap_or_default(),
            false => E::default(),
        }
    }

    /// The factors of elements `0..n` in order ([`Dropout::scale`]).
    pub fn mask<E: Dtype>(self, n: usize) -> Vec<E> {
        (0..n as u64).map(|i| self.scale(i)).collect()
    }
}

/// SplitMix64's `k`-th output from `seed` (its state then is `seed + k·γ`) as a uniform in
/// [0, 1) of 53 bits.
fn splitmix64_uniform(seed: u64, k: u64) -> f64 {
    let mut z = seed.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
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

    /// Inverted dropout of `x` (any shape) with the mask `drop` draws over its elements in
    /// row-major order ([`Dropout::mask`]); the identity when `drop` is `None`.
    fn dropout<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        drop: Option<Dropout>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        compose::dropout(x, drop)
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
    /// with `s_b` stochastic depth's per-sample scale drawn by `drop` (none: 1).
    #[allow(clippy::type_complexity)]
    fn attention_sublayer<Tok: Dim, const D: usize, const D3: usize, T: Tape<E, Self>>(
        norm: &LayerNorm1D<D, E, Self>,
        parts: AttentionParts<'_, D, D3, E, Self>,
        x: Rows<usize, Tok, D, E, Self, T>,
        drop: Option<DropPath>,
    ) -> Result<Rows<usize, Tok, D, E, Self, T>, Self::Err> {
        compose::attention_sublayer(norm, parts, x, drop)
    }

    /// A pre-norm block's MLP sublayer without dropout, `x + s_b·mlp(norm(x))`, `s_b` drawn
    /// by `drop` (none: 1).
    fn mlp_sublayer<Tok: Dim, const D: usize, const F: usize, T: Tape<E, Self>>(
        norm: &LayerNorm1D<D, E, Self>,
        parts: MlpParts<'_, D, F, E, Self>,
        x: Rows<usize, Tok, D, E, Self, T>,
        drop: Option<DropPath>,
    ) -> Result<Rows<usize, Tok, D, E, Self, T>, Self::Err> {
        compose::mlp_sublayer(norm, parts, x, drop)
    }

    /// A pre-norm block without dropout: the attention sublayer, then the MLP sublayer
    /// (`norms` their LayerNorms, `drops` their stochastic depth), by default as the two
    /// sublayer methods. A device may fuse across them (the CUDA device joins the attention
    /// branch and runs the MLP's LayerNorm in one kernel).
    #[allow(clippy::type_complexity)]
    fn block<Tok: Dim, const D: usize, const D3: usize, const F: usize, T: Tape<E, Self>>(
        norms: [&LayerNorm1D<D, E, Self>; 2],
        parts: (
            AttentionParts<'_, D, D3, E, Self>,
            MlpParts<'_, D, F, E, Self>,
        ),
        x: Rows<usize, Tok, D, E, Self, T>,
        drops: [Option<DropPath>; 2],
    ) -> Result<Rows<usize, Tok, D, E, Self, T>, Self::Err> {
        compose::block(norms, parts, x, drops)
    }
}

/// A dfdx device deitc trains on: its `f32` [`Kernels`], how to open it, the training
/// losses, the optimizer step and the EMA.
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

    /// Starts (`on`) or stops the device's profiling range: on CUDA `cuProfilerStart` and
    /// `cuProfilerStop`, which `nsys profile --capture-range=cudaProfilerApi` (and the
    /// simulated driver's counts) take as the part of a run to record. Nothing elsewhere.
    fn profile(&self, on: bool) {
        let _ = on;
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

    /// The soft-target cross-entropy of logits `(B, K)` against targets `(B, K)`, the batch
    /// mean ([`losses::soft_ce`]; by default dfdx's composition).
    fn soft_ce<const K: usize>(
        logits: Logits<K, f32, Self, OwnedTape<f32, Self>>,
        targets: Logits<K, f32, Self>,
    ) -> Result<Loss<Self>, Self::Err> {
        Ok(losses::soft_ce(logits, targets))
    }

    /// Soft distillation of student logits `(B, K)` from teacher logits `(B, K)` at
    /// temperature `tau` ([`losses::soft_kd`]).
    fn soft_kd<const K: usize>(
        student: Logits<K, f32, Self, OwnedTape<f32, Self>>,
        teacher: Logits<K, f32, Self>,
        tau: f64,
    ) -> Result<Loss<Self>, Self::Err> {
        Ok(losses::soft_kd(student, teacher, tau))
    }

    /// The one-hot rows `(B, K)` of each row's first maximum of `teacher` `(B, K)`
    /// ([`losses::argmax_one_hot`]): by default built on the host.
    fn teacher_one_hot<const K: usize>(
        teacher: &Logits<K, f32, Self>,
    ) -> Result<Logits<K, f32, Self>, Self::Err> {
        let one_hot = losses::argmax_one_hot(&teacher.as_vec(), K); // (B × K)
        let dev = teacher.device();
        dev.try_tensor_from_vec(one_hot, *teacher.shape())
    }

    /// Hard distillation: the cross-entropy of student logits `(B, K)` against the teacher's
    /// argmax, [`Backend::soft_ce`] of [`Backend::teacher_one_hot`].
    fn hard_kd<const K: usize>(
        student: Logits<K, f32, Self, OwnedTape<f32, Self>>,
        teacher: Logits<K, f32, Self>,
    ) -> Result<Loss<Self>, Self::Err> {
        let one_hot = Self::teacher_one_hot(&teacher)?;
        Self::soft_ce(student, one_hot)
    }

    /// The model EMA, `ema = ema·decay + model·(1 − decay)` on every trainable tensor: by
    /// default dfdx's `ModelEMA::try_ema`.
    fn ema_update<M: TensorCollection<f32, Self>>(
        ema: &mut M,
        model: &M,
        decay: f64,
    ) -> Result<(), Self::Err> {
        ema.try_ema(model, decay)
    }
}

/// A training loss: a scalar on the device with the tape of the logits it came from.
pub type Loss<Dev> = Tensor<Rank0, f32, Dev, OwnedTape<f32, Dev>>;

/// Whether this build of deitc can run on `device`.
pub fn available(device: DeviceIr) -> bool {
    match device {
        DeviceIr::Cpu => true,
        DeviceIr::Cuda => cfg!(feature = "cuda"),
    }
}
