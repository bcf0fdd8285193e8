//! `cuda/softmax.cu` against the CPU attention softmax (`attention::Softmax` and
//! `SoftmaxGrad`, the kernels `fused::attention` runs on each head's `(T, T)` scores).

use super::values;
use crate::cpu::simd;
use crate::fused::attention::{Softmax, SoftmaxGrad};
use crate::fused::tests::close;
use deitc_kernels::sim;

/// (rows, cols) of the shapes every softmax check runs on: one row, rows not a multiple of
/// a block's 8 warps, widths below, at and past a warp, not multiples of 32 (197 = DeiT's T).
const SHAPES: &[(usize, usize)] = &[(1, 17), (13, 197), (40, 50), (9, 32), (3, 1)];

/// The q·kᵀ scale of a 64-wide head, 1/√64.
const SCALE: f32 = 0.125;

/// The CPU forward: `softmax(scale·s)` per row of `s (rows, cols)`.
fn cpu_forward(s: &[f32], cols: usize, scale: f32) -> Vec<f32> {
    let mut p = s.to_vec();
    simd(Softmax {
        p: &mut p,
        n: cols,
        scale,
    });
    p
}

/// The CPU backward: `scale·p ⊙ (dp − Σ dp ⊙ p)` per row, `p`, `dp (rows, cols)`.
fn cpu_backward(p: &[f32], dp: &[f32], cols: usize, scale: f32) -> Vec<f32> {
    let mut g = dp.to_vec();
    simd(SoftmaxGrad {
        g: &mut g,
        p,
        n: cols,
        scale,
    });
    g
}

#[test]
fn softmax_forward_matches_the_cpu_kernel() {
    for &(rows, cols) in SHAPES {
        for amp in [1.0, 60.0] {
            let s = values(rows * cols, 21, amp); // (rows, cols)
            let p = sim::softmax_forward(&s, cols, SCALE).expect("sim");
            close(
                &format!("p {rows}×{cols} ±{amp}"),
                &p,
                &cpu_forward(&s, cols, SCALE),
            );
        }
    }
}

#[test]
fn softmax_backward_matches_the_cpu_kernel() {
    for &(rows, cols) in SHAPES {
        let s = values(rows * cols, 22, 8.0);
        let p = cpu_forward(&s, cols, SCALE); // (rows, cols), the same p for both
        let dp = values(rows * cols, 23, 1.0);
        let ds = sim::softmax_backward(&p, &dp, cols, SCALE).expect("sim");
        let want = cpu_backward(&p, &dp, cols, SCALE);
        close(&format!("ds {rows}×{cols}"), &ds, &want);
        // The device's attention softmax adds into the gradient already there.
        let before = values(rows * cols, 25, 1.0);
        let mut acc = before.clone();
        sim::softmax_backward_accumulate(&p, &dp, &mut acc, cols, SCALE).expect("sim");
        let sum: Vec<f32> = before.iter().zip(&want).map(|(a, g)| a + g).collect();
        close(&format!("ds {rows}×{cols} (accumulated)"), &acc, &sum);
    }
}

#[test]
fn large_logits_stay_finite_and_rows_sum_to_one() {
    let (rows, cols) = (11, 197);
    let mut s = values(rows * cols, 24, 1e4); // (rows, cols) in ±1e4
    s[3 * cols..4 * cols].fill(1e4); // all equal and large: uniform
    s[5 * cols..6 * cols].fill(-1e4);
    s[7 * cols + 100] = 3e4; // one far above the rest: one-hot
    for scale in [1.0, SCALE] {
        let p = sim::softmax_forward(&s, cols, scale).expect("sim");
        assert!(
            p.iter().all(|v| v.is_finite() && *v >= 0.0),
            "scale {scale}"
        );
        for (r, row) in p.chunks(cols).enumerate() {
            let sum: f64 = row.iter().map(|&v| f64::from(v)).sum();
            assert!((sum - 1.0).abs() <= 1e-5, "row {r}: Σp = {sum}");
        }
        let uniform = 1.0 / cols as f32;
        assert!(p[3 * cols..4 * cols].iter().all(|&v| v == uniform));
        assert_eq!(p[7 * cols + 100], 1.0);
        close(
            &format!("p ±1e4, scale {scale}"),
            &p,
            &cpu_forward(&s, cols, scale),
        );
    }
}

#[test]
fn a_nan_stays_in_its_row() {
    let (rows, cols) = (9, 45);
    let mut s = values(rows * cols, 25, 4.0);
    s[4 * cols + 7] = f32::NAN;
    let p = sim::softmax_forward(&s, cols, SCALE).expect("sim");
    for (r, row) in p.chunks(cols).enumerate() {
        assert_eq!(row.iter().all(|v| v.is_nan()), r == 4, "p row {r}");
        assert!(r == 4 || row.iter().all(|v| v.is_finite()), "p row {r}");
    }
    // The backward: a NaN in dp poisons its row's Σ dp·p, and only that row.
    let p = cpu_forward(&values(rows * cols, 26, 4.0), cols, SCALE);
    let mut dp = values(rows * cols, 27, 1.0);
    dp[6 * cols + 44] = f32::NAN;
    let ds = sim::softmax_backward(&p, &dp, cols, SCALE).expect("sim");
    for (r, row) in ds.chunks(cols).enumerate() {
        assert_eq!(row.iter().all(|v| v.is_nan()), r == 6, "ds row {r}");
        assert!(r == 6 || row.iter().all(|v| v.is_finite()), "ds row {r}");
    }
}

#[test]
fn wrong_lengths_are_errors_not_reads_out_of_bounds() {
    let err = sim::softmax_forward(&[0.0; 10], 3, SCALE);
    assert!(
        matches!(err, Err(sim::SimError::Length { what: "s", .. })),
        "{err:?}"
    );
    let err = sim::softmax_backward(&[0.1; 10], &[0.0; 9], 5, SCALE);
    assert!(
        matches!(
            err,
            Err(sim::SimError::Length {
                what: "dp",
                want: 10,
                got: 9
            })
        ),
        "{err:?}"
    );
}

#[test]
fn bf16_softmax_is_the_rounded_cpu_softmax_and_differentiates_it() {
    // Under bf16 the probabilities are stored once, in bf16: each within one bf16 rounding of
    // the CPU's, and the backward is the CPU's from those rounded values.
    for &(rows, cols) in SHAPES {
        for amp in [1.0, 60.0] {
            let s = values(rows * cols, 24, amp); // (rows, cols)
            let p16 = sim::softmax_forward_bf16(&s, cols, SCALE).expect("sim");
            let p: Vec<f32> = p16.iter().map(|&b| sim::bf16_to_f32(b)).collect();
            let cpu = cpu_forward(&s, cols, SCALE);
            for (i, (a, b)) in p.iter().zip(&cpu).enumerate() {
                assert!(
                    (a - b).abs() <= b.abs() / 256.0 + 1e-30,
                    "p[{i}] {rows}×{cols} ±{amp}: {a} vs {b}"
                );
            }
            let dp = values(rows * cols, 25, 1.0);
            let before = values(rows * cols, 26, 1.0);
            let mut ds = before.clone();
            sim::softmax_backward_bf16(&p16, &dp, &mut ds, cols, SCALE).expect("sim");
            let g = cpu_backward(&p, &dp, cols, SCALE);
            let want: Vec<f32> = before.iter().zip(&g).map(|(a, g)| a + g).collect();
            close(
                &format!("ds {rows}×{cols} ±{amp} (accumulated)"),
                &ds,
                &want,
            );
            // Written in bf16 instead: the same gradient, rounded once.
            let mut fresh = vec![0.0; rows * cols];
            sim::softmax_backward_bf16(&p16, &dp, &mut fresh, cols, SCALE).expect("sim");
            let ds16 = sim::softmax_backward_bf16_out(&p16, &dp, cols, SCALE).expect("sim");
            assert_eq!(
                ds16,
                sim::f32_to_bf16(&fresh).expect("sim"),
                "ds in bf16 {rows}×{cols} ±{amp}"
            );
        }
    }
}
