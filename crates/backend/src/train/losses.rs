//! Losses, as the official code defines them (`losses.py`, timm's `SoftTargetCrossEntropy`).
//!
//! * base: soft-target cross-entropy `mean_b Σ_c −y_bc · log_softmax(x)_bc`; label smoothing
//!   and mixup live in the targets (`(1−s)·onehot + s/K`), so this one function is also
//!   label-smoothing CE and, with one-hot targets, plain CE;
//! * hard distillation: CE of the distillation head against the teacher's argmax (no
//!   smoothing);
//! * soft distillation: `KL(teacher ‖ student)` at temperature τ, summed and divided by
//!   `B·K` (the official `numel` normalisation), times τ² — computed from two
//!   `log_softmax`es, so a teacher probability of 0 cannot produce `ln 0` (dfdx's
//!   `kl_div_with_logits_loss` takes `ln` of probabilities);
//! * total: `(1−α)·base(cls) + α·kd(dist)`.

use crate::model::Logits;
use dfdx::prelude::*;

/// Soft-target cross-entropy `(B, K)` logits × `(B, K)` targets → scalar.
pub fn soft_ce<const K: usize, D: Device<f32>>(
    logits: Logits<K, f32, D, OwnedTape<f32, D>>,
    targets: Tensor<(usize, Const<K>), f32, D>,
) -> Tensor<Rank0, f32, D, OwnedTape<f32, D>> {
    cross_entropy_with_logits_loss(logits, targets)
}

/// `KL(softmax(t/τ) ‖ softmax(s/τ)) · τ² / (B·K)`, summed over the batch.
pub fn soft_kd<const K: usize, D: Device<f32>>(
    student: Logits<K, f32, D, OwnedTape<f32, D>>,
    teacher: Tensor<(usize, Const<K>), f32, D>,
    tau: f64,
) -> Tensor<Rank0, f32, D, OwnedTape<f32, D>> {
    let b = student.shape().0;
    let ls = (student / tau as f32).log_softmax::<Axis<1>>(); // (B, K)
    let lt = (teacher / tau as f32).log_softmax::<Axis<1>>(); // (B, K)
    let pt = lt.clone().exp();
    // Σ p_t (log p_t − log p_s) = −Σ p_t (log p_s − log p_t)
    let kl = ((ls - lt) * pt).sum::<Rank0, _>().negate();
    kl * (tau * tau / (b * K) as f64) as f32
}

/// The index of the first maximum of `row` (0 for an empty row or one of NaNs): the class
/// hard distillation takes from the teacher.
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// One-hot rows of the teacher's argmax, `(B × K)` row-major.
pub fn argmax_one_hot(logits: &[f32], k: usize) -> Vec<f32> {
    let mut out = vec![0.0; logits.len()];
    for (row, o) in logits.chunks(k).zip(out.chunks_mut(k)) {
        o[argmax(row)] = 1.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(dev: &Cpu, v: Vec<f32>) -> Tensor<(usize, Const<3>), f32, Cpu> {
        let b = v.len() / 3;
        dev.tensor_from_vec(v, (b, Const::<3>))
    }

    #[test]
    fn soft_ce_equals_the_closed_form() {
        let dev = Cpu::default();
        let x = vec![1.0f32, 2.0, 3.0, 0.5, 0.0, -1.0];
        let y = vec![0.1f32, 0.2, 0.7, 1.0, 0.0, 0.0];
        let loss = soft_ce(
            logits(&dev, x.clone()).traced(Gradients::leaky()),
            logits(&dev, y.clone()),
        )
        .array();
        let mut want = 0.0f64;
        for (row, t) in x.chunks(3).zip(y.chunks(3)) {
            let lse = row.iter().map(|v| f64::from(*v).exp()).sum::<f64>().ln();
            want -= row
                .iter()
                .zip(t)
                .map(|(v, t)| f64::from(*t) * (f64::from(*v) - lse))
                .sum::<f64>();
        }
        want /= 2.0;
        assert!((f64::from(loss) - want).abs() < 1e-6, "{loss} vs {want}");
    }

    #[test]
    fn soft_kd_equals_the_official_normalisation_and_survives_zero_probabilities() {
        let dev = Cpu::default();
        let s = vec![0.3f32, -0.2, 1.0, 2.0, 0.1, 0.0];
        let t = vec![1.0f32, 0.0, -1.0, 200.0, -200.0, 0.0]; // p_t has exact zeros in row 2
        let tau = 3.0;
        let loss = soft_kd(
            logits(&dev, s.clone()).traced(Gradients::leaky()),
            logits(&dev, t.clone()),
            tau,
        )
        .array();
        let log_softmax = |row: &[f32]| {
            let r: Vec<f64> = row.iter().map(|v| f64::from(*v) / tau).collect();
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            r.iter().map(|v| v - lse).collect::<Vec<_>>()
        };
        let mut sum = 0.0;
        for (rs, rt) in s.chunks(3).zip(t.chunks(3)) {
            let (ls, lt) = (log_softmax(rs), log_softmax(rt));
            sum += lt
                .iter()
                .zip(&ls)
                .map(|(a, b)| a.exp() * (a - b))
                .sum::<f64>();
        }
        let want = sum * tau * tau / 6.0;
        assert!(loss.is_finite());
        assert!((f64::from(loss) - want).abs() < 1e-5, "{loss} vs {want}");
    }

    #[test]
    fn the_cpu_backend_runs_these_losses() {
        use crate::device::Backend;
        let dev = Cpu::default();
        let (s, t) = (
            vec![0.3f32, -0.2, 1.0, 2.0, 0.1, 0.0],
            vec![1.0f32, 0.0, -1.0, 0.0, 5.0, 5.0],
        );
        let taped = || logits(&dev, s.clone()).traced(Gradients::leaky());
        let ce = Cpu::soft_ce(taped(), logits(&dev, t.clone())).expect("cpu");
        assert_eq!(
            ce.array(),
            soft_ce(taped(), logits(&dev, t.clone())).array()
        );
        let kd = Cpu::soft_kd(taped(), logits(&dev, t.clone()), 2.0).expect("cpu");
        assert_eq!(
            kd.array(),
            soft_kd(taped(), logits(&dev, t.clone()), 2.0).array()
        );
        let one_hot = Cpu::teacher_one_hot(&logits(&dev, t.clone())).expect("cpu");
        assert_eq!(one_hot.as_vec(), vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let hard = Cpu::hard_kd(taped(), logits(&dev, t.clone())).expect("cpu");
        assert_eq!(hard.array(), soft_ce(taped(), one_hot).array());
    }

    #[test]
    fn argmax_rows() {
        assert_eq!(
            argmax_one_hot(&[0.1, 0.9, 0.0, 5.0, -1.0, 4.0], 3),
            vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
        );
    }
}
