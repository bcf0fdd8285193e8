//! The simulator's launches of `cuda/cross_entropy.cu`: the soft-target cross-entropy, the
//! soft distillation loss (KL at temperature τ) and the teacher's argmax for hard
//! distillation, over logits `(rows, k)`, and the two launches that make a loss one op on
//! the CUDA device's tape: the sum of its per-row terms, and its backward `dx += g·saved`.
//! Each loss returns its per-row terms `(rows,)` (summed in row order and normalised by the
//! caller, or by [`loss_sum`]) and writes or adds the logits' gradient, `scale` times the
//! row term's. Every launch runs its [`crate::plan`], as the GPU does.

use super::{run, SimError};
use crate::plan::{self, LossGrad};

/// Where a loss's gradient goes: `(rows, k)`, overwritten or added to.
pub struct Grad<'a> {
    pub out: &'a mut [f32],
    pub accumulate: bool,
}

impl<'a> Grad<'a> {
    fn plan(self) -> LossGrad<&'a mut [f32]> {
        LossGrad {
            out: self.out,
            accumulate: self.accumulate,
        }
    }
}

/// `soft_ce_forward_backward`: per row `−Σ t·log_softmax(z)` of `logits` × `targets`
/// (`rows × k`), and `grad` (if any) = or += `scale·(softmax(z)·Σt − t)` (`scale` =
/// loss weight / rows for the batch mean).
pub fn soft_ce(
    logits: &[f32],
    targets: &[f32],
    k: usize,
    scale: f32,
    grad: Option<Grad<'_>>,
) -> Result<Vec<f32>, SimError> {
    let mut loss = vec![0.0; logits.len() / k.max(1)]; // (rows,)
    run(plan::soft_ce_forward_backward(
        logits,
        targets,
        &mut loss[..],
        grad.map(Grad::plan),
        k,
        scale,
    ))?;
    Ok(loss)
}

/// `soft_kd_forward_backward`: per row `KL(softmax(teacher/τ) ‖ softmax(student/τ))` of
/// `student` × `teacher` (`rows × k`), and `grad` (if any) = or +=
/// `scale·(softmax(student/τ)·Σp_t − p_t)/τ` (`scale` = weight·τ²/(rows·k), the official
/// normalisation).
pub fn soft_kd(
    student: &[f32],
    teacher: &[f32],
    k: usize,
    tau: f32,
    scale: f32,
    grad: Option<Grad<'_>>,
) -> Result<Vec<f32>, SimError> {
    let mut loss = vec![0.0; student.len() / k.max(1)]; // (rows,)
    run(plan::soft_kd_forward_backward(
        student,
        teacher,
        &mut loss[..],
        grad.map(Grad::plan),
        k,
        (tau, scale),
    ))?;
    Ok(loss)
}

/// `argmax_one_hot`: the one-hot rows `(rows × k)` of each row's first maximum of `logits`
/// (`rows × k`), the hard-distillation targets.
pub fn argmax_one_hot(logits: &[f32], k: usize) -> Result<Vec<f32>, SimError> {
    let mut one_hot = vec![0.0; logits.len()]; // (rows, k)
    run(plan::argmax_one_hot(logits, &mut one_hot[..], k))?;
    Ok(one_hot)
}

/// `loss_sum`: `norm·Σ terms` of a loss's per-row terms `(rows,)`, as the CUDA device forms
/// the scalar loss.
pub fn loss_sum(terms: &[f32], norm: f32) -> Result<f32, SimError> {
    let mut out = [f32::NAN]; // (1,)
    run(plan::loss_sum(terms, norm, &mut out[..]))?;
    Ok(out[0])
}

/// `loss_grad_accumulate`: `dx += g·saved` (`saved`, `dx` `(n,)`), a loss's backward on the
/// CUDA device with its incoming gradient `g`.
pub fn loss_grad_accumulate(g: f32, saved: &[f32], dx: &mut [f32]) -> Result<(), SimError> {
    run(plan::loss_grad_accumulate(&[g][..], saved, dx))
}
