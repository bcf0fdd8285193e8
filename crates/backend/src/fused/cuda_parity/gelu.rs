//! `cuda/gelu.cu` against the CPU GELU (`gelu::gelu_forward`, value and derivative) and bias
//! gradient (`linear::backward_bias`), on `h = x + b` as the MLP computes it.
//!
//! The kernels use the device's `erff`, the CPU its vectorised `erf` (within 5e-7 of libm's):
//! |Δy| ≤ ½·|h|·5e-7 and |Δgelu'| ≤ 2.5e-7, well inside `close`'s 1e-5 of the scale.

use super::values;
use crate::fused::gelu::gelu_forward;
use crate::fused::linear::backward_bias;
use crate::fused::tests::close;
use deitc_kernels::sim;

/// (rows, cols) of the shapes every GELU check runs on: one row, rows not a multiple of 8,
/// widths not multiples of 32, and 130 rows for three parts of 64 in the bias gradient.
const SHAPES: &[(usize, usize)] = &[(1, 17), (13, 197), (40, 50), (130, 33)];

/// The CPU path: `(y, gelu'(h))` for `h = x + bias`, `x (rows, cols)`, `bias (cols,)`.
fn cpu_forward(x: &[f32], bias: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut h: Vec<f32> = x
        .chunks(bias.len())
        .flat_map(|row| row.iter().zip(bias).map(|(x, b)| x + b))
        .collect();
    let mut d = vec![0.0; h.len()];
    gelu_forward(&mut h, &mut d);
    (h, d)
}

#[test]
fn bias_gelu_forward_matches_the_cpu_kernel() {
    for &(rows, cols) in SHAPES {
        for amp in [1.0, 6.0] {
            let (x, bias) = (values(rows * cols, 31, amp), values(cols, 32, 1.0));
            let y = sim::bias_gelu_forward(&x, Some(&bias), bias.len()).expect("sim");
            close(
                &format!("y {rows}×{cols} ±{amp}"),
                &y,
                &cpu_forward(&x, &bias).0,
            );
        }
    }
}

#[test]
fn bias_gelu_backward_matches_the_cpu_kernel() {
    for &(rows, cols) in SHAPES {
        let (x, bias) = (values(rows * cols, 33, 3.0), values(cols, 34, 1.0));
        let dy = values(rows * cols, 35, 1.0); // (rows, cols)
        let (_, d) = cpu_forward(&x, &bias);
        let dx_cpu: Vec<f32> = dy.iter().zip(&d).map(|(g, d)| g * d).collect();
        // db accumulates into what is there, on both paths.
        let mut db_cpu = values(cols, 36, 1.0);
        let mut db_sim = db_cpu.clone();
        backward_bias(&dx_cpu, &mut db_cpu);
        let dx = sim::bias_gelu_backward(&dy, &x, Some((&bias, &mut db_sim)), cols).expect("sim");
        close(&format!("dx {rows}×{cols}"), &dx, &dx_cpu);
        close(&format!("db {rows}×{cols} (accumulated)"), &db_sim, &db_cpu);
    }
}

#[test]
fn without_a_bias_it_is_plain_gelu() {
    // The CUDA device's `gelu` (no bias): the same values as with a zero bias, no bias sums.
    for &(rows, cols) in SHAPES {
        let x = values(rows * cols, 43, 3.0); // (rows, cols)
        let zero = vec![0.0; cols];
        let (y_cpu, d) = cpu_forward(&x, &zero);
        let y = sim::bias_gelu_forward(&x, None, cols).expect("sim");
        close(&format!("y {rows}×{cols}"), &y, &y_cpu);
        let dy = values(rows * cols, 44, 1.0);
        let dx = sim::bias_gelu_backward(&dy, &x, None, cols).expect("sim");
        let dx_cpu: Vec<f32> = dy.iter().zip(&d).map(|(g, d)| g * d).collect();
        close(&format!("dx {rows}×{cols}"), &dx, &dx_cpu);
        // The device's backward adds into the gradient already there.
        let before = values(rows * cols, 45, 1.0);
        let mut acc = before.clone();
        sim::gelu_backward_accumulate(&dy, &x, &mut acc, cols).expect("sim");
        let want: Vec<f32> = before.iter().zip(&dx_cpu).map(|(a, g)| a + g).collect();
        close(&format!("dx {rows}×{cols} (accumulated)"), &acc, &want);
    }
}

#[test]
fn large_inputs_stay_finite() {
    let (rows, cols) = (3, 40);
    let mut x = values(rows * cols, 37, 1e4); // (rows, cols) in ±1e4
    x[..cols].fill(-1e4);
    x[cols..2 * cols].fill(1e4);
    let bias = values(cols, 38, 1.0);
    let y = sim::bias_gelu_forward(&x, Some(&bias), bias.len()).expect("sim");
    assert!(y.iter().all(|v| v.is_finite()));
    let (y_cpu, d) = cpu_forward(&x, &bias);
    close("y ±1e4", &y, &y_cpu);
    let dy = values(rows * cols, 39, 1.0);
    let mut db = vec![0.0; cols];
    let dx = sim::bias_gelu_backward(&dy, &x, Some((&bias, &mut db)), cols).expect("sim");
    assert!(dx.iter().chain(&db).all(|v| v.is_finite()));
    let dx_cpu: Vec<f32> = dy.iter().zip(&d).map(|(g, d)| g * d).collect();
    close("dx ±1e4", &dx, &dx_cpu);
}

#[test]
fn a_nan_stays_in_its_element_and_its_column_of_db() {
    let (rows, cols) = (9, 45);
    let mut x = values(rows * cols, 40, 2.0);
    let at = 4 * cols + 7;
    x[at] = f32::NAN;
    let bias = values(cols, 41, 1.0);
    let y = sim::bias_gelu_forward(&x, Some(&bias), bias.len()).expect("sim");
    for (i, v) in y.iter().enumerate() {
        assert_eq!(v.is_nan(), i == at, "y[{i}]");
    }
    let dy = values(rows * cols, 42, 1.0);
    let mut db = vec![0.0; cols];
    let dx = sim::bias_gelu_backward(&dy, &x, Some((&bias, &mut db)), cols).expect("sim");
    for (i, v) in dx.iter().enumerate() {
        assert_eq!(v.is_nan(), i == at, "dx[{i}]");
    }
    for (c, v) in db.iter().enumerate() {
        assert_eq!(v.is_nan(), c == 7, "db[{c}]");
    }
}

#[test]
fn wrong_lengths_are_errors_not_reads_out_of_bounds() {
    let err = sim::bias_gelu_forward(&[0.0; 10], Some(&[0.0; 3]), 3);
    assert!(
        matches!(err, Err(sim::SimError::Length { what: "x", .. })),
        "{err:?}"
    );
    let err = sim::bias_gelu_backward(&[0.0; 12], &[0.0; 12], Some((&[0.0; 3], &mut [0.0; 4])), 3);
    assert!(
        matches!(
            err,
            Err(sim::SimError::Length {
                what: "db",
                want: 3,
                got: 4
            })
        ),
        "{err:?}"
    );
}

#[test]
fn bf16_gelu_keeps_the_rounded_input_and_differentiates_it() {
    // Under bf16 the device's GELU keeps x in bf16: the forward is the fp32 GELU, the
    // backward the CPU's derivative at the rounded x, added into the gradient.
    for &(rows, cols) in SHAPES {
        let x = values(rows * cols, 47, 4.0); // (rows, cols)
        let (y, keep) = sim::gelu_forward_keep_bf16(&x).expect("sim");
        let zero = vec![0.0; cols];
        close(&format!("y {rows}×{cols}"), &y, &cpu_forward(&x, &zero).0);
        assert_eq!(
            keep,
            sim::f32_to_bf16(&x).expect("sim"),
            "keep {rows}×{cols}"
        );
        let rounded: Vec<f32> = keep.iter().map(|&b| sim::bf16_to_f32(b)).collect();
        let (_, d) = cpu_forward(&rounded, &zero);
        let dy = values(rows * cols, 48, 1.0);
        let before = values(rows * cols, 49, 1.0);
        let mut dx = before.clone();
        sim::gelu_backward_bf16(&dy, &keep, &mut dx).expect("sim");
        let want: Vec<f32> = before
            .iter()
            .zip(dy.iter().zip(&d))
            .map(|(a, (g, d))| a + g * d)
            .collect();
        close(&format!("dx {rows}×{cols} (accumulated)"), &dx, &want);
    }
}

#[test]
fn bf16_bias_gelu_is_the_bias_then_the_bf16_gelu_rounded() {
    // The MLP op's bf16 pair is the bias add, then the bf16 GELU above, with y and dh
    // rounded to bf16 (each bit for bit) and db the CPU's column sum of the fp32 dh.
    for &(rows, cols) in SHAPES {
        let (x, bias) = (values(rows * cols, 51, 4.0), values(cols, 52, 1.0));
        let (keep, y) = sim::bias_gelu_forward_bf16(&x, &bias).expect("sim");
        let h: Vec<f32> = x
            .chunks(cols)
            .flat_map(|row| row.iter().zip(&bias).map(|(x, b)| x + b))
            .collect();
        let (y32, keep_alone) = sim::gelu_forward_keep_bf16(&h).expect("sim");
        assert_eq!(keep, keep_alone, "keep {rows}×{cols}");
        assert_eq!(y, sim::f32_to_bf16(&y32).expect("sim"), "y {rows}×{cols}");

        let dy = values(rows * cols, 53, 1.0);
        let mut db = values(cols, 54, 1.0);
        let db_before = db.clone();
        let dh = sim::bias_gelu_backward_bf16(&dy, &keep, &mut db).expect("sim");
        let mut dh32 = vec![0.0; rows * cols];
        sim::gelu_backward_bf16(&dy, &keep, &mut dh32).expect("sim");
        assert_eq!(
            dh,
            sim::f32_to_bf16(&dh32).expect("sim"),
            "dh {rows}×{cols}"
        );
        let mut want = db_before;
        backward_bias(&dh32, &mut want);
        close(&format!("db {rows}×{cols}"), &db, &want);
    }
}
