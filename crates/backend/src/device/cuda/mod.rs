//! dfdx's `Cuda` device as a [`Backend`], with deitc's CUDA kernels (`crates/kernels`,
//! compiled by NVRTC when the device opens) in place of dfdx's op compositions:
//! - [`linear`]: a `Linear` on tokens as one cuBLAS product over all `B·T` rows (bias rows
//!   first), in fp32, TF32 or on bf16 operands per `train.precision` ([`Matmul`]);
//! - [`layer_norm`], [`gelu`] and the attention softmax with its scale ([`softmax`]);
//! - [`attention`]: the heads split from `qkv` and merged back in one launch each, and
//!   between them [`attention_core`], `softmax(scale·q·kᵀ)·v` as one op that recomputes the
//!   probabilities in its backward instead of keeping them (its products batched, in the
//!   device's matmul mode);
//! - [`mlp`]: `fc2(gelu(fc1(x)))` as one op, fc1's bias added by the GELU kernel (which
//!   writes fc2's operand in bf16 under bf16);
//! - [`sublayer`]: a block's residual join `x + s_b·f(norm(x))` as one op, stochastic
//!   depth's scales drawn on the device;
//! - [`dropout`]: the mask drawn and applied in one launch, redrawn in the backward;
//! - the optimizer step (`train/optimizer/cuda.rs`), the EMA ([`ema`]), and the losses
//!   ([`losses`]: soft-target CE, soft and hard distillation, each a loss kernel, a
//!   fixed-order sum, and a backward that scales the saved gradient by the incoming one on
//!   the device).
//!
//! `DEITC_CUDA_COMPOSED` ([`super::composed`]) sends any of these back to its composition.
//!
//! Every launch runs a [`deitc_kernels::plan`], the plan the CPU simulator runs in
//! `cargo test` against the CPU kernels; this module is the part that only a GPU runs.

mod attention;
mod attention_core;
mod batched;
mod dropout;
mod ema;
mod gelu;
mod layer_norm;
mod linear;
mod losses;
mod mlp;
pub(crate) mod modules;
mod product;
mod softmax;
mod softmax_values;
mod sublayer;

use super::composed::{self, composed, Op};
use super::{compose, AttentionParts, Backend, Kernels, MlpParts, Rows, Scores};
use crate::ir::Precision;
use dfdx::nn::modules::{LayerNorm1D, Linear};
use dfdx::prelude::*;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// How the `Linear` products run ([`linear`]), from `train.precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Matmul {
    /// fp32 operands and arithmetic (cuBLAS's strict fp32).
    F32,
    /// fp32 operands on TF32 tensor cores, fp32 accumulation.
    Tf32,
    /// bf16 operands on bf16 tensor cores, fp32 accumulation and output.
    Bf16,
}

/// Each opened device's [`Matmul`] mode, keyed by its cuBLAS handle: a student and its
/// teacher are separate devices, each with its recipe's `train.precision`.
fn modes() -> &'static Mutex<HashMap<usize, Matmul>> {
    static MODES: OnceLock<Mutex<HashMap<usize, Matmul>>> = OnceLock::new();
    MODES.get_or_init(Default::default)
}

/// The [`Matmul`] mode `set_precision` chose for `dev` (fp32 before it is called).
pub(crate) fn matmul(dev: &Cuda) -> Matmul {
    let key = *dev.cublas().handle() as usize;
    // A poisoned table still holds the modes set before the panic.
    let table = modes().lock().unwrap_or_else(|e| e.into_inner());
    table.get(&key).copied().unwrap_or(Matmul::F32)
}

/// A device buffer that goes back to dfdx's allocation cache when dropped, as a tensor's
/// storage does, so the next step's request of its size takes it from there instead of the
/// driver (a `cuMemAllocAsync` and `cuMemFreeAsync` a buffer, a step).
pub(crate) type Buf<E> = dfdx::tensor::CachableCudaSlice<E>;

/// An uninitialised device buffer of `len` values (each kernel writes all of its output).
pub(crate) fn alloc(dev: &Cuda, len: usize) -> Result<Buf<f32>, CudaError> {
    // SAFETY: every caller passes the buffer to a kernel that writes each element (the
    // forward outputs, the partial sums) before anything reads it.
    #[allow(unsafe_code)]
    unsafe {
        dev.alloc_cached::<f32>(len)
    }
}

/// An uninitialised device buffer of `len` bf16 values (their bits), for a kernel that
/// writes every element.
pub(crate) fn alloc_bf16(dev: &Cuda, len: usize) -> Result<Buf<u16>, CudaError> {
    // SAFETY: every caller passes the buffer to a kernel that writes each element (a bf16
    // copy, a kept activation, probabilities) before anything reads it.
    #[allow(unsafe_code)]
    unsafe {
        dev.alloc_cached::<u16>(len)
    }
}

/// The β of a backward product that writes all of a gradient (`dx = β·dx + dy·W`), from
/// `Gradients::try_alloc_first` (vendored dfdx patch 9): a gradient the product is the first
/// to write is a new buffer left uninitialised and overwritten (β = 0), which saves dfdx's
/// zero fill and the product's read of the zeros; one an earlier backward wrote, or that
/// the product does not cover, is added into (β = 1).
pub(crate) fn beta(first: bool) -> f32 {
    if first {
        0.0
    } else {
        1.0
    }
}

/// `slice` as a contiguous tensor of `shape` (the lengths agree by construction).
pub(crate) fn wrap<S: Shape>(
    dev: &Cuda,
    shape: S,
    slice: Buf<f32>,
) -> Result<Tensor<S, f32, Cuda>, CudaError> {
    dev.tensor_from_cached(shape, slice).ok_or_else(invalid)
}

/// A buffer whose length disagrees with its shape: a bug in deitc.
pub(crate) fn invalid() -> CudaError {
    CudaError::Driver(cudarc::driver::DriverError(
        cudarc::driver::sys::CUresult::CUDA_ERROR_INVALID_VALUE,
    ))
}

/// The kernels were not loaded: `Backend::open` loads them and fails with the reason first.
pub(crate) fn not_loaded() -> CudaError {
    CudaError::Driver(cudarc::driver::DriverError(
        cudarc::driver::sys::CUresult::CUDA_ERROR_NOT_INITIALIZED,
    ))
}

impl Kernels<f32> for Cuda {
    fn layer_norm<B: Dim, Tok: Dim, const M: usize, T: Tape<f32, Self>>(
        norm: &LayerNorm1D<M, f32, Self>,
        x: Rows<B, Tok, M, f32, Self, T>,
    ) -> Result<Rows<B, Tok, M, f32, Self, T>, Self::Err> {
        if composed(Op::LayerNorm) {
            return compose::layer_norm(norm, x);
        }
        layer_norm::layer_norm(norm, x)
    }

    fn linear<B: Dim, Tok: Dim, const I: usize, const O: usize, T: Tape<f32, Self>>(
        lin: &Linear<I, O, f32, Self>,
        x: Rows<B, Tok, I, f32, Self, T>,
    ) -> Result<Rows<B, Tok, O, f32, Self, T>, Self::Err> {
        if composed(Op::Linear) {
            return compose::linear(lin, x);
        }
        linear::linear(lin, x)
    }

    fn gelu<S: Shape, T: Tape<f32, Self>>(
        x: Tensor<S, f32, Self, T>,
    ) -> Result<Tensor<S, f32, Self, T>, Self::Err> {
        if composed(Op::Gelu) {
            return compose::gelu(x);
        }
        gelu::gelu(x)
    }

    fn dropout<S: Shape, T: Tape<f32, Self>>(
        x: Tensor<S, f32, Self, T>,
        drop: Option<super::Dropout>,
    ) -> Result<Tensor<S, f32, Self, T>, Self::Err> {
        if composed(Op::Dropout) {
            return compose::dropout(x, drop);
        }
        match drop {
            Some(d) => dropout::dropout(x, d),
            None => Ok(x),
        }
    }

    fn scaled_softmax<Tok: Dim, T: Tape<f32, Self>>(
        s: Scores<Tok, f32, Self, T>,
        scale: f64,
    ) -> Result<Scores<Tok, f32, Self, T>, Self::Err> {
        if composed(Op::Softmax) {
            return compose::scaled_softmax(s, scale);
        }
        softmax::scaled_softmax(s, scale)
    }

    fn attention<B: Dim, Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Self>>(
        parts: AttentionParts<'_, D, D3, f32, Self>,
        x: Rows<B, Tok, D, f32, Self, T>,
    ) -> Result<Rows<B, Tok, D, f32, Self, T>, Self::Err> {
        if composed(Op::Attention) {
            return compose::attention(parts, x);
        }
        attention::attention(parts, x)
    }

    fn mlp<B: Dim, Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Self>>(
        parts: MlpParts<'_, D, F, f32, Self>,
        x: Rows<B, Tok, D, f32, Self, T>,
    ) -> Result<Rows<B, Tok, D, f32, Self, T>, Self::Err> {
        if composed(Op::Mlp) {
            return compose::mlp(parts, x);
        }
        mlp::mlp(parts, x)
    }

    fn attention_sublayer<Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Self>>(
        norm: &LayerNorm1D<D, f32, Self>,
        parts: AttentionParts<'_, D, D3, f32, Self>,
        x: Rows<usize, Tok, D, f32, Self, T>,
        drop: Option<super::DropPath>,
    ) -> Result<Rows<usize, Tok, D, f32, Self, T>, Self::Err> {
        if composed(Op::Sublayer) {
            return compose::attention_sublayer(norm, parts, x, drop);
        }
        sublayer::attention_sublayer(norm, parts, x, drop)
    }

    fn mlp_sublayer<Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Self>>(
        norm: &LayerNorm1D<D, f32, Self>,
        parts: MlpParts<'_, D, F, f32, Self>,
        x: Rows<usize, Tok, D, f32, Self, T>,
        drop: Option<super::DropPath>,
    ) -> Result<Rows<usize, Tok, D, f32, Self, T>, Self::Err> {
        if composed(Op::Sublayer) {
            return compose::mlp_sublayer(norm, parts, x, drop);
        }
        sublayer::mlp_sublayer(norm, parts, x, drop)
    }

    fn block<Tok: Dim, const D: usize, const D3: usize, const F: usize, T: Tape<f32, Self>>(
        norms: [&LayerNorm1D<D, f32, Self>; 2],
        parts: (
            AttentionParts<'_, D, D3, f32, Self>,
            MlpParts<'_, D, F, f32, Self>,
        ),
        x: Rows<usize, Tok, D, f32, Self, T>,
        drops: [Option<super::DropPath>; 2],
    ) -> Result<Rows<usize, Tok, D, f32, Self, T>, Self::Err> {
        if composed(Op::Sublayer) {
            return compose::block(norms, parts, x, drops);
        }
        sublayer::block(norms, parts, x, drops)
    }
}

impl Backend for Cuda {
    const NAME: &'static str = "cuda";
    /// cudarc's device constructor unwraps the driver's answers (no GPU, a stub or missing
    /// driver), so a panic there is caught, kept quiet, and becomes the error.
    fn open(seed: u64) -> Result<Self, String> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = std::panic::catch_unwind(|| Cuda::try_build(0, seed));
        std::panic::set_hook(hook);
        match opened {
            Ok(Ok(device)) => {
                let composed = composed::from_env().as_ref().map_err(Clone::clone)?;
                // With every op composed no kernel of deitc's runs: NVRTC is not needed, so
                // the all-dfdx baseline runs even where the kernels cannot be compiled.
                if !composed.all() {
                    modules::loaded(&device)?;
                }
                // dfdx's allocation cache, keyed by size: the static shapes make every step
                // ask for the sizes the step before freed.
                device.try_enable_cache().map_err(|e| format!("{e:?}"))?;
                Ok(device)
            }
            Ok(Err(e)) => Err(format!("{e:?}")),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the CUDA driver could not be initialised".into());
                let unwrapped = "called `Result::unwrap()` on an `Err` value: ";
                Err(message.trim_start_matches(unwrapped).to_string())
            }
        }
    }

    /// The fused AdamW/SGD kernels over each parameter, clipping on the device.
    fn optimizer_step<M: dfdx::nn::TensorCollection<f32, Self>>(
        opt: &mut crate::train::optimizer::Optimizer<Self>,
        model: &mut M,
        grads: &mut Gradients<f32, Self>,
        lr: f64,
    ) -> Result<crate::train::optimizer::StepInfo, Self::Err> {
        if composed(Op::Optimizer) {
            return opt.step_on_device(model, grads, lr);
        }
        opt.step_fused(model, grads, lr)
    }

    /// One launch of the fused loss and its gradient, one of the sum ([`losses`]).
    fn soft_ce<const K: usize>(
        logits: crate::model::Logits<K, f32, Self, OwnedTape<f32, Self>>,
        targets: crate::model::Logits<K, f32, Self>,
    ) -> Result<super::Loss<Self>, Self::Err> {
        if composed(Op::Loss) || logits.shape().0 == 0 {
            return Ok(crate::train::losses::soft_ce(logits, targets));
        }
        losses::soft_ce(logits, targets)
    }

    fn soft_kd<const K: usize>(
        student: crate::model::Logits<K, f32, Self, OwnedTape<f32, Self>>,
        teacher: crate::model::Logits<K, f32, Self>,
        tau: f64,
    ) -> Result<super::Loss<Self>, Self::Err> {
        if composed(Op::Loss) || student.shape().0 == 0 {
            return Ok(crate::train::losses::soft_kd(student, teacher, tau));
        }
        losses::soft_kd(student, teacher, tau)
    }

    /// The teacher's argmax one-hot rows, built on the device (no host round trip).
    fn teacher_one_hot<const K: usize>(
        teacher: &crate::model::Logits<K, f32, Self>,
    ) -> Result<crate::model::Logits<K, f32, Self>, Self::Err> {
        if composed(Op::Loss) || teacher.shape().0 == 0 {
            let one_hot = crate::train::losses::argmax_one_hot(&teacher.as_vec(), K); // (B × K)
            return teacher
                .device()
                .try_tensor_from_vec(one_hot, *teacher.shape());
        }
        losses::teacher_one_hot(teacher)
    }

    /// One `ema_update` launch per trainable tensor ([`ema`]); composed with the optimizer.
    fn ema_update<M: dfdx::nn::TensorCollection<f32, Self>>(
        ema: &mut M,
        model: &M,
        decay: f64,
    ) -> Result<(), Self::Err> {
        if composed(Op::Ema) {
            return dfdx::nn::ModelEMA::try_ema(ema, model, decay);
        }
        ema::ema_update(ema, model, decay)
    }

    /// A profiler that is not running (no nsys) ignores the calls; errors are not the run's.
    fn profile(&self, on: bool) {
        let _ = match on {
            true => cudarc::driver::profiler_start(),
            false => cudarc::driver::profiler_stop(),
        };
    }

    fn set_precision(&self, precision: Precision) -> Result<(), String> {
        use cudarc::cublas::sys::{cublasMath_t, cublasSetMathMode, cublasStatus_t};
        // deitc's products take their mode from `matmul(dev)`; the handle's math mode is for
        // the products dfdx still runs (the classifier heads): TF32 under tf32 and bf16.
        let (matmul, mode) = match precision {
            Precision::Fp32 => (Matmul::F32, cublasMath_t::CUBLAS_DEFAULT_MATH),
            Precision::Tf32 => (Matmul::Tf32, cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH),
            Precision::Bf16 => (Matmul::Bf16, cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH),
        };
        let key = *self.cublas().handle() as usize;
        modes()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, matmul);
        // SAFETY: the handle is dfdx's live cuBLAS handle of this device (kept alive by the
        // `Arc` borrowed here); setting its math mode is a host-side setting that changes
        // how later GEMMs on it run.
        #[allow(unsafe_code)]
        let status = unsafe { cublasSetMathMode(*self.cublas().handle(), mode) };
        match status {
            cublasStatus_t::CUBLAS_STATUS_SUCCESS => Ok(()),
            other => Err(format!(
                "cuBLAS refused the {} math mode: {other:?}",
                precision.name()
            )),
        }
    }
}
