//! The training losses on the GPU, each one op on dfdx's tape (`cuda/cross_entropy.cu`; the
//! simulator tests the same plans against the CPU losses in
//! `fused/cuda_parity/cross_entropy.rs`):
//! - the forward launches the loss kernel, which writes each row's term `(B,)` and the
//!   logits' gradient `(B, K)` of the loss at weight 1 (scale `1/B` for the cross-entropy,
//!   `τ²/(B·K)` for soft distillation), kept for the backward; then `loss_sum` reduces the
//!   terms to the scalar loss with the same normalisation, in one warp;
//! - the backward launches `loss_grad_accumulate`, `dlogits += g·saved`, with the loss's
//!   incoming gradient `g` (the weight `1 − α`, `α` or 1 of the total) read from device
//!   memory: no host read, and the class token's two losses add into one gradient;
//! - hard distillation's targets are the teacher's argmax one-hot rows, built on the device
//!   by `argmax_one_hot`.

use cudarc::driver::CudaSlice;
use dfdx::prelude::*;

use super::modules::{input, loaded, output, Loaded};
use super::{alloc, not_loaded, wrap, Buf};
use crate::device::Loss;
use crate::model::Logits;
use deitc_kernels::plan::{self, LossGrad};
use std::sync::Arc;

/// Logits `(B, K)` on the GPU, on the tape a loss is recorded on.
type Taped<const K: usize> = Logits<K, f32, Cuda, OwnedTape<f32, Cuda>>;

/// The soft-target cross-entropy of `logits` `(B, K)` against `targets` `(B, K)`, the batch
/// mean.
pub(super) fn soft_ce<const K: usize>(
    logits: Taped<K>,
    targets: Logits<K, f32, Cuda>,
) -> Result<Loss<Cuda>, CudaError> {
    // The kernels read rows of K contiguous values.
    let (logits, tape) = logits.try_contiguous()?.split_tape();
    let targets = targets.try_contiguous()?;
    let dev = logits.device().clone();
    let k = loaded(&dev).map_err(|_| not_loaded())?;
    let rows = logits.shape().0;
    let norm = (1.0 / rows as f64) as f32;
    let (mut terms, mut grad) = (alloc(&dev, rows)?, alloc(&dev, rows * K)?);
    k.run(plan::soft_ce_forward_backward(
        input(&**logits.data()),
        input(&**targets.data()),
        output(&mut terms),
        Some(overwrite(&mut grad)),
        K,
        norm,
    ))?;
    on_tape(&k, (logits, tape), Terms { terms, norm, grad })
}

/// Soft distillation of `student` `(B, K)` from `teacher` `(B, K)` at temperature `tau`:
/// `KL(softmax(t/τ) ‖ softmax(s/τ))·τ²/(B·K)` summed over the batch.
pub(super) fn soft_kd<const K: usize>(
    student: Taped<K>,
    teacher: Logits<K, f32, Cuda>,
    tau: f64,
) -> Result<Loss<Cuda>, CudaError> {
    let (student, tape) = student.try_contiguous()?.split_tape();
    let teacher = teacher.try_contiguous()?;
    let dev = student.device().clone();
    let k = loaded(&dev).map_err(|_| not_loaded())?;
    let rows = student.shape().0;
    // The CPU's normalisation, rounded as it rounds it.
    let norm = (tau * tau / (rows * K) as f64) as f32;
    let (mut terms, mut grad) = (alloc(&dev, rows)?, alloc(&dev, rows * K)?);
    k.run(plan::soft_kd_forward_backward(
        input(&**student.data()),
        input(&**teacher.data()),
        output(&mut terms),
        Some(overwrite(&mut grad)),
        K,
        (tau as f32, norm),
    ))?;
    on_tape(&k, (student, tape), Terms { terms, norm, grad })
}

/// The one-hot rows `(B, K)` of each row's first maximum of `teacher` `(B, K)`.
pub(super) fn teacher_one_hot<const K: usize>(
    teacher: &Logits<K, f32, Cuda>,
) -> Result<Logits<K, f32, Cuda>, CudaError> {
    let teacher = teacher.clone().try_contiguous()?;
    let dev = teacher.device().clone();
    let k = loaded(&dev).map_err(|_| not_loaded())?;
    let shape = *teacher.shape();
    let mut one_hot = alloc(&dev, shape.num_elements())?; // (B, K)
    k.run(plan::argmax_one_hot(
        input(&**teacher.data()),
        output(&mut one_hot),
        K,
    ))?;
    wrap(&dev, shape, one_hot)
}

/// A loss kernel's gradient output, overwritten.
fn overwrite(grad: &mut CudaSlice<f32>) -> LossGrad<super::modules::Out<'_>> {
    LossGrad {
        out: output(grad),
        accumulate: false,
    }
}

/// What a loss's forward leaves: the per-row terms `(B,)`, the factor that turns their sum
/// into the loss, and the logits' gradient of the loss at weight 1 `(B, K)`.
struct Terms {
    terms: Buf<f32>,
    norm: f32,
    grad: Buf<f32>,
}

/// The scalar loss `norm·Σ terms`, on the logits' tape with the backward
/// `dlogits += g·grad`.
fn on_tape<const K: usize>(
    k: &Arc<Loaded>,
    (logits, mut tape): (Logits<K, f32, Cuda>, OwnedTape<f32, Cuda>),
    t: Terms,
) -> Result<Loss<Cuda>, CudaError> {
    let dev = logits.device().clone();
    let mut total = alloc(&dev, 1)?; // ()
    k.run(plan::loss_sum(input(&t.terms), t.norm, output(&mut total)))?;
    let loss = wrap(&dev, (), total)?;
    let (logits_g, loss_g) = (logits.ghost(), loss.ghost());
    let (k, saved) = (k.clone(), t.grad);
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&logits_g)?;
        grads.try_alloc_for(&loss_g)?;
        let (dlogits, g) = grads.mut_and_ref(&logits_g, &loss_g);
        k.run(plan::loss_grad_accumulate(
            input(g),
            input(&saved),
            output(dlogits),
        ))
    });
    Ok(loss.put_tape(tape))
}
