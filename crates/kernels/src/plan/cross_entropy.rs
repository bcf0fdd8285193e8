//! Launch plans of `cuda/cross_entropy.cu`: the soft-target cross-entropy and the soft
//! distillation loss over logits `(rows, k)` (per-row terms and the logits' gradient in one
//! launch), the teacher's argmax one-hot rows for hard distillation, the sum of a loss's
//! per-row terms into the scalar loss, and the backward's `dx += g·saved`.

use super::{int, launch, len, rows_of, Buffer, Launch, Param, PlanError};
use crate::launch::{self as config, LaunchConfig};

/// Where a loss's gradient goes: `(rows, k)`, overwritten or added to.
pub struct LossGrad<O> {
    pub out: O,
    pub accumulate: bool,
}

/// A loss kernel's gradient parameters: the buffer (or null), and `accumulate`.
type GradParams<I, O> = (Param<I, O>, Param<I, O>);

/// The gradient parameters of a loss kernel, the buffer checked to hold `n` values.
fn grad_params<I, O: Buffer>(
    what: &'static str,
    grad: Option<LossGrad<O>>,
    n: usize,
) -> Result<GradParams<I, O>, PlanError> {
    match grad {
        Some(g) => {
            len(what, &g.out, n)?;
            Ok((Param::Out(g.out), Param::I32(i32::from(g.accumulate))))
        }
        None => Ok((Param::Null, Param::I32(0))),
    }
}

/// `soft_ce_forward_backward`: per row `−Σ t·log_softmax(z)` of `logits` × `targets`
/// `(rows, k)` into `loss` `(rows,)`, and `grad` (if any) = or += `scale·(softmax(z)·Σt − t)`
/// (`scale` = loss weight / rows for the batch mean).
pub fn soft_ce_forward_backward<I: Buffer, O: Buffer>(
    logits: I,
    targets: I,
    loss: O,
    grad: Option<LossGrad<O>>,
    k: usize,
    scale: f32,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("logits", &logits, k)?;
    len("targets", &targets, rows * k)?;
    len("loss", &loss, rows)?;
    let (dlogits, accumulate) = grad_params("dlogits", grad, rows * k)?;
    launch(
        "soft_ce_forward_backward",
        config::per_row(rows),
        vec![
            Param::In(logits),
            Param::In(targets),
            Param::Out(loss),
            dlogits,
            Param::I32(int("rows", rows)?),
            Param::I32(int("k", k)?),
            Param::F32(scale),
            accumulate,
        ],
    )
}

/// `soft_kd_forward_backward`: per row `KL(softmax(teacher/τ) ‖ softmax(student/τ))` of
/// `student` × `teacher` `(rows, k)` into `loss` `(rows,)`, and `grad` (if any) = or +=
/// `scale·(softmax(student/τ)·Σp_t − p_t)/τ` (`scale` = weight·τ²/(rows·k), the official
/// normalisation).
pub fn soft_kd_forward_backward<I: Buffer, O: Buffer>(
    student: I,
    teacher: I,
    loss: O,
    grad: Option<LossGrad<O>>,
    k: usize,
    (tau, scale): (f32, f32),
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("student", &student, k)?;
    len("teacher", &teacher, rows * k)?;
    len("loss", &loss, rows)?;
    let (dstudent, accumulate) = grad_params("dstudent", grad, rows * k)?;
    launch(
        "soft_kd_forward_backward",
        config::per_row(rows),
        vec![
            Param::In(student),
            Param::In(teacher),
            Param::Out(loss),
            dstudent,
            Param::I32(int("rows", rows)?),
            Param::I32(int("k", k)?),
            Param::F32(tau),
            Param::F32(scale),
            accumulate,
        ],
    )
}

/// `argmax_one_hot`: the one-hot rows `(rows, k)` of each row's first maximum of `logits`
/// `(rows, k)`, the hard-distillation targets.
pub fn argmax_one_hot<I: Buffer, O: Buffer>(
    logits: I,
    one_hot: O,
    k: usize,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("logits", &logits, k)?;
    len("one_hot", &one_hot, rows * k)?;
    launch(
        "argmax_one_hot",
        config::per_row(rows),
        vec![
            Param::In(logits),
            Param::Out(one_hot),
            Param::I32(int("rows", rows)?),
            Param::I32(int("k", k)?),
        ],
    )
}

/// `loss_sum`: `out` `(1,)` = `norm·Σ terms` over a loss's per-row terms `(rows,)`, in one
/// warp (the same bits every launch).
pub fn loss_sum<I: Buffer, O: Buffer>(
    terms: I,
    norm: f32,
    out: O,
) -> Result<Launch<I, O>, PlanError> {
    let rows = terms.len();
    len("out", &out, 1)?;
    let one_warp = LaunchConfig {
        grid: (1, 1, 1),
        block: (32, 1, 1),
        shared_bytes: 0,
    };
    launch(
        "loss_sum",
        one_warp,
        vec![
            Param::In(terms),
            Param::I32(int("rows", rows)?),
            Param::F32(norm),
            Param::Out(out),
        ],
    )
}

/// `loss_grad_accumulate`: `dx += g[0]·saved` over `saved`, `dx` `(n,)`, with the loss's
/// incoming gradient `g` `(1,)` read on the device.
pub fn loss_grad_accumulate<I: Buffer, O: Buffer>(
    g: I,
    saved: I,
    dx: O,
) -> Result<Launch<I, O>, PlanError> {
    let n = saved.len();
    len("g", &g, 1)?;
    len("dx", &dx, n)?;
    launch(
        "loss_grad_accumulate",
        config::per_element(n),
        vec![
            Param::In(g),
            Param::In(saved),
            Param::Out(dx),
            Param::I32(int("n", n)?),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FAMILIES;

    fn known<I, O>(l: &Launch<I, O>) -> bool {
        FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel))
    }

    #[test]
    fn the_loss_plans_check_their_buffers_and_name_known_kernels() {
        let (z, g) = (vec![0.0f32; 12], vec![1.0f32; 1]);
        let (mut terms, mut dz, mut out) = (vec![0.0f32; 3], vec![0.0f32; 12], vec![0.0f32]);
        let grad = Some(LossGrad {
            out: &mut dz[..],
            accumulate: true,
        });
        let l =
            soft_ce_forward_backward(&z[..], &z[..], &mut terms[..], grad, 4, 0.5).expect("plan");
        assert!(known(&l) && l.params.len() == 8);
        let l = soft_kd_forward_backward::<&[f32], &mut [f32]>(
            &z[..],
            &z[..],
            &mut terms[..],
            None,
            4,
            (2.0, 0.5),
        )
        .expect("plan");
        assert!(known(&l) && matches!(l.params[3], Param::Null));
        assert!(known(
            &loss_sum(&terms[..], 1.0, &mut out[..]).expect("plan")
        ));
        let l = loss_grad_accumulate(&g[..], &z[..], &mut dz[..]).expect("plan");
        assert!(known(&l));
        let mut short = [0.0f32; 11];
        let err = argmax_one_hot(&z[..], &mut short[..], 4).expect_err("short one-hot");
        assert!(matches!(
            err,
            PlanError::Length {
                what: "one_hot",
                ..
            }
        ));
        let mut two = [0.0f32; 2];
        let err = loss_sum(&terms[..], 1.0, &mut two[..]).expect_err("out of 2");
        assert!(matches!(err, PlanError::Length { what: "out", .. }));
    }
}
