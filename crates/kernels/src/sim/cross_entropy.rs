//! The simulator's launches of `cuda/cross_entropy.cu`: the soft-target cross-entropy, the
//! soft distillation loss (KL at temperature τ) and the teacher's argmax for hard
//! distillation, over logits `(rows, k)`. Each loss returns its per-row terms `(rows,)`
//! (the caller sums them in row order and applies the loss's normalisation) and writes or
//! adds the logits' gradient, `scale` times the row term's.

use super::{checked, int, len, Arg, SimError};
use crate::launch;

/// Where a loss's gradient goes: `(rows, k)`, overwritten or added to.
pub struct Grad<'a> {
    pub out: &'a mut [f32],
    pub accumulate: bool,
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
    let rows = logits.len() / k.max(1);
    len("logits", logits, rows * k)?;
    len("targets", targets, rows * k)?;
    let accumulate = grad.as_ref().is_some_and(|g| g.accumulate);
    let out = grad.map(|g| g.out);
    if let Some(d) = &out {
        len("dlogits", d, rows * k)?;
    }
    let mut loss = vec![0.0; rows]; // (rows,)
    checked(
        "soft_ce_forward_backward",
        &launch::per_row(rows),
        &mut [
            Arg::In(logits),
            Arg::In(targets),
            Arg::Out(&mut loss),
            out.map_or(Arg::Null, Arg::Out),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("k", k)?),
            Arg::F32(scale),
            Arg::I32(i32::from(accumulate)),
        ],
    )?;
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
    let rows = student.len() / k.max(1);
    len("student", student, rows * k)?;
    len("teacher", teacher, rows * k)?;
    let accumulate = grad.as_ref().is_some_and(|g| g.accumulate);
    let out = grad.map(|g| g.out);
    if let Some(d) = &out {
        len("dstudent", d, rows * k)?;
    }
    let mut loss = vec![0.0; rows]; // (rows,)
    checked(
        "soft_kd_forward_backward",
        &launch::per_row(rows),
        &mut [
            Arg::In(student),
            Arg::In(teacher),
            Arg::Out(&mut loss),
            out.map_or(Arg::Null, Arg::Out),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("k", k)?),
            Arg::F32(tau),
            Arg::F32(scale),
            Arg::I32(i32::from(accumulate)),
        ],
    )?;
    Ok(loss)
}

/// `argmax_one_hot`: the one-hot rows `(rows × k)` of each row's first maximum of `logits`
/// (`rows × k`), the hard-distillation targets.
pub fn argmax_one_hot(logits: &[f32], k: usize) -> Result<Vec<f32>, SimError> {
    let rows = logits.len() / k.max(1);
    len("logits", logits, rows * k)?;
    let mut one_hot = vec![0.0; rows * k]; // (rows, k)
    checked(
        "argmax_one_hot",
        &launch::per_row(rows),
        &mut [
            Arg::In(logits),
            Arg::Out(&mut one_hot),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("k", k)?),
        ],
    )?;
    Ok(one_hot)
}
