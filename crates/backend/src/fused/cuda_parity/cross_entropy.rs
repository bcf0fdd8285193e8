//! `cuda/cross_entropy.cu` against the CPU losses of `train::losses` (`soft_ce`, `soft_kd`,
//! `argmax_one_hot`), checked two ways: against an f64 evaluation of the same formulas from
//! the same f32 inputs (the accuracy check, at `close`'s 1e-5), and against the dfdx
//! compositions themselves on `Cpu` tensors — their loss value and, by `backward`, the
//! logits' gradient of `weight·loss` (the parity check, at 1e-4; see below). The kernels'
//! per-row terms are summed in row order and normalised as the loss does (`1/rows` for CE,
//! `τ²/(rows·K)` for KD); `scale` is the weight times that factor.
//!
//! Shapes: K = 10 and 1000, rows 1 and 7, logits of ±1 and ±1e4, soft targets with exact
//! zeros (label smoothing, mixup, and sparse random distributions), teacher probabilities
//! that underflow to 0. The CUDA device's loss op (the kernel, `loss_sum`, then the backward's
//! `loss_grad_accumulate` with the incoming weight) is checked whole against dfdx's
//! `(loss·WEIGHT).backward()` onto an earlier gradient.
//!
//! Tolerances. Both sides are f32 and differ in summation order: the kernel sums each row
//! over a warp's tree (≤ K/32 + 5 sequential additions), dfdx sums in one sequence — its
//! backward's Σ_k g_k over a row and its loss over all `rows·K` terms — which rounds up to
//! K·2⁻²⁴ ≈ 6e-5 relative for K = 1000 (~1e-5 seen at logits of ±1e4, against ~2e-7 for
//! the kernel, both from f64). So the kernel is held to 1e-5 of f64 and to 1e-4 of dfdx.

use super::values;
use crate::fused::tests::close;
use crate::train::losses::{argmax_one_hot, soft_ce, soft_kd};
use deitc_kernels::sim::{self, Grad, SimError};
use dfdx::prelude::*;

/// The loss weight (α or 1 − α of the total) the gradients are scaled by.
const WEIGHT: f32 = 0.7;

/// `rows` target distributions over `k` classes, by `kind`: 0 label-smoothed one-hot, 1 a
/// mixup of two of those, 2 sparse random distributions (about half the classes exactly 0,
/// and the last row one-hot without smoothing).
fn targets(rows: usize, k: usize, kind: u32, seed: u64) -> Vec<f32> {
    let smooth = |class: usize| {
        let mut t = vec![0.1 / k as f32; k];
        t[class] += 0.9;
        t
    };
    let pick = values(2 * rows, seed, 1.0);
    let class = |i: usize| ((pick[i] * 0.5 + 0.5) * k as f32) as usize % k;
    (0..rows)
        .flat_map(|r| match kind {
            0 => smooth(class(r)),
            1 => {
                let (a, b) = (smooth(class(r)), smooth(class(rows + r)));
                a.iter().zip(&b).map(|(a, b)| 0.3 * a + 0.7 * b).collect()
            }
            _ if r + 1 == rows => {
                let mut t = vec![0.0; k];
                t[class(r)] = 1.0;
                t
            }
            _ => {
                let raw = values(k, seed + 1 + r as u64, 1.0);
                let w: Vec<f32> = raw.iter().map(|v| v.max(0.0)).collect();
                let sum: f32 = w.iter().sum::<f32>().max(f32::MIN_POSITIVE);
                w.iter().map(|v| v / sum).collect()
            }
        })
        .collect()
}

/// dfdx's soft CE of `(rows, K)` logits and targets: the loss and the logits' gradient of
/// `WEIGHT·loss`.
fn dfdx_ce<const K: usize>(logits: &[f32], targets: &[f32]) -> (f32, Vec<f32>) {
    let dev = Cpu::default();
    let rows = logits.len() / K;
    let z = dev.tensor_from_vec(logits.to_vec(), (rows, Const::<K>));
    let t = dev.tensor_from_vec(targets.to_vec(), (rows, Const::<K>));
    let loss = soft_ce(z.leaky_trace(), t);
    let value = loss.array();
    let grads = (loss * WEIGHT).backward();
    (value, grads.get(&z).as_vec())
}

/// dfdx's soft distillation of `(rows, K)` student and teacher logits at `tau`.
fn dfdx_kd<const K: usize>(student: &[f32], teacher: &[f32], tau: f64) -> (f32, Vec<f32>) {
    let dev = Cpu::default();
    let rows = student.len() / K;
    let s = dev.tensor_from_vec(student.to_vec(), (rows, Const::<K>));
    let t = dev.tensor_from_vec(teacher.to_vec(), (rows, Const::<K>));
    let loss = soft_kd(s.leaky_trace(), t, tau);
    let value = loss.array();
    let grads = (loss * WEIGHT).backward();
    (value, grads.get(&s).as_vec())
}

/// The soft CE in f64 from the same f32 inputs: the mean loss and the gradient of
/// `WEIGHT·loss`, `WEIGHT/rows·(softmax·Σt − t)`.
fn f64_ce(z: &[f32], t: &[f32], k: usize) -> (f64, Vec<f32>) {
    let rows = z.len() / k;
    let (mut loss, mut grad) = (0.0, Vec::with_capacity(z.len()));
    for (zr, tr) in z.chunks(k).zip(t.chunks(k)) {
        let ls = log_softmax(zr, 1.0);
        let ts: f64 = tr.iter().map(|&v| f64::from(v)).sum();
        for (l, &tv) in ls.iter().zip(tr) {
            loss -= f64::from(tv) * l;
            let d = f64::from(WEIGHT) / rows as f64 * (l.exp() * ts - f64::from(tv));
            grad.push(d as f32);
        }
    }
    (loss / rows as f64, grad)
}

/// The soft distillation in f64: `τ²/(rows·K)·Σ KL` and the student's gradient of
/// `WEIGHT·loss`, `WEIGHT·τ/(rows·K)·(p_s·Σp_t − p_t)`.
fn f64_kd(s: &[f32], t: &[f32], k: usize, tau: f64) -> (f64, Vec<f32>) {
    let n = s.len() as f64;
    let (mut kl, mut grad) = (0.0, Vec::with_capacity(s.len()));
    for (sr, tr) in s.chunks(k).zip(t.chunks(k)) {
        let (ls, lt) = (log_softmax(sr, tau), log_softmax(tr, tau));
        let pt_sum: f64 = lt.iter().map(|l| l.exp()).sum();
        for (a, b) in ls.iter().zip(&lt) {
            kl += b.exp() * (b - a);
            let d = f64::from(WEIGHT) * tau / n * (a.exp() * pt_sum - b.exp());
            grad.push(d as f32);
        }
    }
    (kl * tau * tau / n, grad)
}

/// log_softmax(row/τ) in f64, of `row/τ` rounded to f32 as both f32 paths form it first
/// (at logits of ±1e4 that rounding alone moves a softmax by ~1e-4 relative).
fn log_softmax(row: &[f32], tau: f64) -> Vec<f64> {
    let r: Vec<f64> = row.iter().map(|&v| f64::from(v / tau as f32)).collect();
    let m = r.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let ln_s = r.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    r.iter().map(|v| (v - m) - ln_s).collect()
}

/// `a` within `tol` of `b`, relative.
fn close_loss(what: &str, a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1e-6),
        "{what}: sim {a} vs {b}"
    );
}

/// |a − b| ≤ tol·(|b| + max|b|) element-wise, like `close` at another tolerance.
fn close_to(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (y.abs() + scale),
            "{what}[{i}]: sim {x} vs dfdx {y} (scale {scale})"
        );
    }
}

/// The kernel's loss and gradient against f64 (1e-5) and dfdx (1e-4).
fn check(what: &str, (loss, grad): (f64, &[f32]), f64_ref: (f64, &[f32]), dfdx: (f32, &[f32])) {
    close_loss(&format!("{what}: loss vs f64"), loss, f64_ref.0, 1e-5);
    close(&format!("{what}: grad vs f64"), grad, f64_ref.1);
    close_loss(
        &format!("{what}: loss vs dfdx"),
        loss,
        f64::from(dfdx.0),
        1e-4,
    );
    close_to(&format!("{what}: grad vs dfdx"), grad, dfdx.1, 1e-4);
}

/// Σ of the per-row terms in row order, in f32 as a caller would.
fn sum(rows: &[f32]) -> f32 {
    rows.iter().sum()
}

fn soft_ce_case<const K: usize>(rows: usize, amp: f32, kind: u32) {
    let what = format!("soft CE {rows}×{K} ±{amp} targets {kind}");
    let z = values(rows * K, 30 + kind as u64, amp);
    let t = targets(rows, K, kind, 40 + rows as u64);
    let (loss, grad) = dfdx_ce::<K>(&z, &t);
    let scale = WEIGHT / rows as f32;
    let mut dz = vec![f32::NAN; rows * K]; // overwritten
    let terms = sim::soft_ce(
        &z,
        &t,
        K,
        scale,
        Some(Grad {
            out: &mut dz,
            accumulate: false,
        }),
    )
    .expect("sim");
    assert!(terms.iter().all(|l| l.is_finite()), "{what}: {terms:?}");
    let mean = f64::from(sum(&terms) / rows as f32);
    let (l64, g64) = f64_ce(&z, &t, K);
    check(&what, (mean, &dz), (l64, &g64), (loss, &grad));
    // Accumulated onto an earlier gradient (the class token's second loss).
    let before = values(rows * K, 50, 0.1);
    let mut acc = before.clone();
    let again = sim::soft_ce(
        &z,
        &t,
        K,
        scale,
        Some(Grad {
            out: &mut acc,
            accumulate: true,
        }),
    )
    .expect("sim");
    assert_eq!(again, terms, "{what}: the same bits every launch");
    let want: Vec<f32> = before.iter().zip(&grad).map(|(a, g)| a + g).collect();
    close_to(&format!("{what}: dz accumulated"), &acc, &want, 1e-4);
    // The loss alone.
    assert_eq!(sim::soft_ce(&z, &t, K, scale, None).expect("sim"), terms);
}

#[test]
fn soft_ce_matches_dfdx() {
    for rows in [1, 7] {
        for amp in [1.0, 1e4] {
            for kind in 0..3 {
                soft_ce_case::<10>(rows, amp, kind);
                soft_ce_case::<1000>(rows, amp, kind);
            }
        }
    }
    let err = sim::soft_ce(&[0.0; 20], &[0.0; 19], 10, 1.0, None);
    assert!(
        matches!(
            err,
            Err(SimError::Length {
                what: "targets",
                ..
            })
        ),
        "{err:?}"
    );
}

fn soft_kd_case<const K: usize>(rows: usize, amp: f32, tau: f64) {
    let what = format!("soft KD {rows}×{K} ±{amp} τ {tau}");
    let s = values(rows * K, 60, amp);
    let mut t = values(rows * K, 61, amp);
    if amp < 10.0 {
        // Teacher probabilities that underflow to exactly 0 at this temperature.
        t[0] = 400.0 * tau as f32;
        t[K - 1] = -400.0 * tau as f32;
    }
    let (loss, grad) = dfdx_kd::<K>(&s, &t, tau);
    let norm = (tau * tau / (rows * K) as f64) as f32;
    let mut ds = vec![0.0; rows * K];
    let (tau32, scale) = (tau as f32, WEIGHT * norm);
    let terms = sim::soft_kd(
        &s,
        &t,
        K,
        tau32,
        scale,
        Some(Grad {
            out: &mut ds,
            accumulate: true,
        }),
    )
    .expect("sim");
    assert!(terms.iter().all(|l| l.is_finite()), "{what}: {terms:?}");
    let total = f64::from(sum(&terms) * norm);
    let (l64, g64) = f64_kd(&s, &t, K, tau);
    check(&what, (total, &ds), (l64, &g64), (loss, &grad));
}

#[test]
fn soft_kd_matches_dfdx() {
    for rows in [1, 7] {
        for amp in [1.0, 1e4] {
            for tau in [1.0, 3.0] {
                soft_kd_case::<10>(rows, amp, tau);
                soft_kd_case::<1000>(rows, amp, tau);
            }
        }
    }
    let mut ds = vec![0.0; 19];
    let grad = Some(Grad {
        out: &mut ds,
        accumulate: false,
    });
    let err = sim::soft_kd(&[0.0; 20], &[0.0; 20], 10, 1.0, 1.0, grad);
    assert!(
        matches!(
            err,
            Err(SimError::Length {
                what: "dstudent",
                ..
            })
        ),
        "{err:?}"
    );
}

fn hard_case<const K: usize>(rows: usize, amp: f32) {
    let what = format!("hard distillation {rows}×{K} ±{amp}");
    let s = values(rows * K, 70, amp);
    let mut teacher = values(rows * K, 71, amp);
    // Ties (the first index wins), a NaN (never wins), a row of −∞ (index 0).
    teacher[3] = 2.0 * amp;
    teacher[K - 2] = 2.0 * amp;
    teacher[1] = f32::NAN;
    if rows > 1 {
        teacher[K..2 * K].fill(f32::NEG_INFINITY);
    }
    let one_hot = sim::argmax_one_hot(&teacher, K).expect("sim");
    assert_eq!(one_hot, argmax_one_hot(&teacher, K), "{what}: one-hot rows");
    let (loss, grad) = dfdx_ce::<K>(&s, &argmax_one_hot(&teacher, K));
    let mut ds = vec![0.0; rows * K];
    let scale = WEIGHT / rows as f32;
    let grad_out = Some(Grad {
        out: &mut ds,
        accumulate: false,
    });
    let terms = sim::soft_ce(&s, &one_hot, K, scale, grad_out).expect("sim");
    let mean = f64::from(sum(&terms) / rows as f32);
    let (l64, g64) = f64_ce(&s, &one_hot, K);
    check(&what, (mean, &ds), (l64, &g64), (loss, &grad));
}

#[test]
fn hard_distillation_matches_ce_against_the_teachers_argmax() {
    for rows in [1, 7] {
        for amp in [1.0, 1e4] {
            hard_case::<10>(rows, amp);
            hard_case::<1000>(rows, amp);
        }
    }
    let err = sim::argmax_one_hot(&[0.0; 21], 10);
    assert!(
        matches!(err, Err(SimError::Length { what: "logits", .. })),
        "{err:?}"
    );
}

#[test]
fn a_nan_logit_stays_in_its_row() {
    let (rows, k) = (5, 40);
    let mut z = values(rows * k, 80, 3.0);
    z[2 * k + 5] = f32::NAN;
    let t = targets(rows, k, 0, 81);
    let mut dz = vec![0.0; rows * k];
    let grad = Some(Grad {
        out: &mut dz,
        accumulate: false,
    });
    let terms = sim::soft_ce(&z, &t, k, 1.0, grad).expect("sim");
    for (r, row) in dz.chunks(k).enumerate() {
        assert_eq!(terms[r].is_nan(), r == 2, "row {r}");
        assert!(r == 2 || row.iter().all(|v| v.is_finite()), "row {r}");
    }
    let mut short = vec![0.0; 3];
    let grad = Some(Grad {
        out: &mut short,
        accumulate: true,
    });
    let err = sim::soft_ce(&z, &t, k, 1.0, grad);
    assert!(
        matches!(
            err,
            Err(SimError::Length {
                what: "dlogits",
                ..
            })
        ),
        "{err:?}"
    );
}

/// The CUDA device's loss op, simulated: the forward's kernel with the gradient at weight 1
/// (`scale` = `norm`), `loss_sum` of its terms, and the backward's `loss_grad_accumulate`
/// with the incoming gradient `WEIGHT` onto `before`. Returns the loss and the gradient.
fn device_op(
    forward: impl FnOnce(&mut [f32]) -> Result<Vec<f32>, SimError>,
    norm: f32,
    before: &[f32],
) -> (f32, Vec<f32>) {
    let mut saved = vec![f32::NAN; before.len()]; // (rows, K), overwritten
    let terms = forward(&mut saved).expect("sim forward");
    let loss = sim::loss_sum(&terms, norm).expect("sim loss_sum");
    let mut grad = before.to_vec();
    sim::loss_grad_accumulate(WEIGHT, &saved, &mut grad).expect("sim backward");
    (loss, grad)
}

/// A gradient output, overwritten.
fn overwrite(out: &mut [f32]) -> Option<Grad<'_>> {
    Some(Grad {
        out,
        accumulate: false,
    })
}

/// `before + grad`, element-wise.
fn plus(before: &[f32], grad: &[f32]) -> Vec<f32> {
    before.iter().zip(grad).map(|(a, g)| a + g).collect()
}

/// The device op's loss and gradient against dfdx's loss and `before` + its gradient.
fn check_op(what: &str, before: &[f32], (loss, grad): (f32, Vec<f32>), dfdx: (f32, Vec<f32>)) {
    let (want, want_grad) = dfdx;
    close_loss(what, f64::from(loss), f64::from(want), 1e-4);
    close_to(what, &grad, &plus(before, &want_grad), 1e-4);
}

fn device_op_case<const K: usize>(rows: usize, amp: f32) {
    let what = format!("device op {rows}×{K} ±{amp}");
    let before = values(rows * K, 90, 0.1); // the other loss's gradient, already there
                                            // Cross-entropy against soft targets.
    let (z, t) = (values(rows * K, 91, amp), targets(rows, K, 1, 92));
    let norm = (1.0 / rows as f64) as f32;
    let op = device_op(
        |d| sim::soft_ce(&z, &t, K, norm, overwrite(d)),
        norm,
        &before,
    );
    check_op(&format!("{what}: CE"), &before, op, dfdx_ce::<K>(&z, &t));
    // Soft distillation at τ = 3.
    let (s, teacher, tau) = (values(rows * K, 93, amp), values(rows * K, 94, amp), 3.0);
    let norm = (tau * tau / (rows * K) as f64) as f32;
    let op = device_op(
        |d| sim::soft_kd(&s, &teacher, K, tau as f32, norm, overwrite(d)),
        norm,
        &before,
    );
    check_op(
        &format!("{what}: KD"),
        &before,
        op,
        dfdx_kd::<K>(&s, &teacher, tau),
    );
    // Hard distillation: CE against the teacher's argmax, built by the kernel.
    let one_hot = sim::argmax_one_hot(&teacher, K).expect("sim");
    let norm = (1.0 / rows as f64) as f32;
    let op = device_op(
        |d| sim::soft_ce(&s, &one_hot, K, norm, overwrite(d)),
        norm,
        &before,
    );
    let dfdx = dfdx_ce::<K>(&s, &argmax_one_hot(&teacher, K));
    check_op(&format!("{what}: hard"), &before, op, dfdx);
}

#[test]
fn the_device_loss_op_matches_dfdx_through_backward() {
    // K = 1000 on fewer rows: the simulator's cost is per block of the element-wise
    // backward, and 9 rows still span two blocks of the per-row kernels.
    for amp in [1.0, 1e4] {
        for rows in [1, 7, 70] {
            device_op_case::<10>(rows, amp);
        }
        for rows in [1, 9] {
            device_op_case::<1000>(rows, amp);
        }
    }
}

#[test]
fn loss_sum_is_the_normalised_sum_in_warp_order() {
    for rows in [0, 1, 31, 32, 33, 257] {
        let terms = values(rows, 95, 5.0);
        let norm = 0.37;
        let got = sim::loss_sum(&terms, norm).expect("sim");
        // Lane l sums terms l, l+32, … in order; then the warp's butterfly tree.
        let mut lanes = [0.0f32; 32];
        for (i, v) in terms.iter().enumerate() {
            lanes[i % 32] += v;
        }
        for o in [16, 8, 4, 2, 1] {
            lanes = std::array::from_fn(|l| lanes[l] + lanes[l ^ o]);
        }
        assert_eq!(
            got,
            lanes[0] * norm,
            "{rows} rows: the warp's order, bit for bit"
        );
        let want: f64 = terms.iter().map(|&v| f64::from(v)).sum::<f64>() * f64::from(norm);
        close_loss(&format!("{rows} rows"), f64::from(got), want, 1e-5);
    }
    let err = sim::loss_sum(&[1.0; 3], f32::NAN);
    assert!(err.is_ok_and(|v| v.is_nan()));
}

#[test]
fn loss_grad_accumulate_adds_the_scaled_gradient() {
    let n = 1000;
    let (saved, before) = (values(n, 96, 2.0), values(n, 97, 1.0));
    let mut dx = before.clone();
    sim::loss_grad_accumulate(-0.3, &saved, &mut dx).expect("sim");
    for i in 0..n {
        assert_eq!(dx[i], before[i] + -0.3 * saved[i], "element {i}");
    }
    let err = sim::loss_grad_accumulate(1.0, &saved, &mut dx[..n - 1]);
    assert!(
        matches!(err, Err(SimError::Length { what: "dx", .. })),
        "{err:?}"
    );
}
