//! `cuda/layer_norm.cu` against the CPU LayerNorm.

use super::values;
use crate::fused::layer_norm::{ln_backward, ln_forward};
use crate::fused::tests::close;
use deitc_kernels::sim;

/// (rows, cols) of the shapes every LayerNorm check runs on.
const SHAPES: &[(usize, usize)] = &[(1, 64), (13, 50), (16, 192), (70, 33)];

#[test]
fn layer_norm_forward_matches_the_cpu_kernel() {
    for &(rows, cols) in SHAPES {
        for amp in [1.0, 1e3] {
            let x = values(rows * cols, 1, amp);
            let (gamma, beta) = (values(cols, 2, 1.0), values(cols, 3, 1.0));
            let cpu = ln_forward(&x, &gamma, &beta, cols, 1e-6, true);
            let (y, stats) = sim::layer_norm_forward(&x, &gamma, &beta, cols, 1e-6).expect("sim");
            close(&format!("y {rows}×{cols} ±{amp}"), &y, &cpu.y);
            close("rstd", &stats.rstd, &cpu.rstd);
        }
    }
}

#[test]
fn layer_norm_backward_matches_the_cpu_kernel() {
    for &(rows, cols) in SHAPES {
        let x = values(rows * cols, 4, 2.0);
        let (gamma, beta) = (values(cols, 5, 1.0), values(cols, 6, 1.0));
        let g = values(rows * cols, 7, 1.0);
        let cpu = ln_forward(&x, &gamma, &beta, cols, 1e-6, true);
        let mut dx_cpu = values(rows * cols, 8, 1.0);
        let mut dx_sim = dx_cpu.clone();
        let (dgamma_cpu, dbeta_cpu) = ln_backward(&g, &cpu.xhat, &cpu.rstd, &gamma, &mut dx_cpu);
        let (_, stats) = sim::layer_norm_forward(&x, &gamma, &beta, cols, 1e-6).expect("sim");
        let (dgamma, dbeta) =
            sim::layer_norm_backward(&g, &x, &stats, &gamma, &mut dx_sim).expect("sim");
        close(&format!("dx {rows}×{cols} (accumulated)"), &dx_sim, &dx_cpu);
        close("dgamma", &dgamma, &dgamma_cpu);
        close("dbeta", &dbeta, &dbeta_cpu);
    }
}

#[test]
fn residual_layer_norm_joins_the_branch_with_its_drop_path_scale() {
    let (tokens, cols) = (5, 40);
    let rows = 3 * tokens;
    let (x, h) = (values(rows * cols, 9, 1.0), values(rows * cols, 10, 1.0));
    let (gamma, beta) = (values(cols, 11, 1.0), values(cols, 12, 1.0));
    let scale = [0.0, 1.25, 2.0];
    let run = |h: (&[f32], Option<&[f32]>)| {
        sim::residual_layer_norm_forward(&x, h, Some(&scale), tokens, &gamma, &beta, cols, 1e-6)
            .expect("sim")
    };
    let (x_out, y, _) = run((&h, None));
    let joined: Vec<f32> = (0..rows * cols)
        .map(|i| x[i] + scale[i / (tokens * cols)] * h[i])
        .collect();
    close("x + s·h", &x_out, &joined);
    let cpu = ln_forward(&joined, &gamma, &beta, cols, 1e-6, false);
    close("LayerNorm(x + s·h)", &y, &cpu.y);
    let (plain, _, _) =
        sim::residual_layer_norm_forward(&x, (&h, None), None, tokens, &gamma, &beta, cols, 1e-6)
            .expect("sim");
    let sum: Vec<f32> = x.iter().zip(&h).map(|(a, b)| a + b).collect();
    close("x + h", &plain, &sum);
    // With the branch's bias left to the join: the join of `h + bias`, bit for bit.
    let bias = values(cols, 14, 1.0);
    let biased: Vec<f32> = h
        .chunks(cols)
        .flat_map(|row| row.iter().zip(&bias).map(|(h, b)| h + b))
        .collect();
    let (want, got) = (run((&biased, None)), run((&h, Some(&bias))));
    assert_eq!(got.0, want.0, "x + s·(h + b)");
    assert_eq!(got.1, want.1, "LayerNorm(x + s·(h + b))");
    // Its bf16 form: the same join and statistics, y rounded once.
    let (x16, y16, stats16) = sim::residual_layer_norm_forward_bf16(
        &x,
        (&h, Some(&bias)),
        Some(&scale),
        tokens,
        &gamma,
        &beta,
        cols,
        1e-6,
    )
    .expect("sim");
    assert_eq!(x16, got.0, "x' of the bf16 form");
    assert_eq!(stats16, got.2, "statistics of the bf16 form");
    assert_eq!(
        y16,
        sim::f32_to_bf16(&got.1).expect("sim"),
        "y rounded once"
    );
}

#[test]
fn a_nan_stays_in_its_row() {
    let (rows, cols) = (9, 48);
    let mut x = values(rows * cols, 13, 1.0);
    x[4 * cols + 7] = f32::NAN;
    let (gamma, beta) = (vec![1.0; cols], vec![0.0; cols]);
    let (y, _) = sim::layer_norm_forward(&x, &gamma, &beta, cols, 1e-6).expect("sim");
    for (r, row) in y.chunks(cols).enumerate() {
        assert_eq!(row.iter().all(|v| v.is_nan()), r == 4, "row {r}");
        assert!(r == 4 || row.iter().all(|v| v.is_finite()), "row {r}");
    }
}

#[test]
fn wrong_lengths_are_errors_not_reads_out_of_bounds() {
    let x = vec![0.0; 10];
    let err = sim::layer_norm_forward(&x, &[1.0; 4], &[0.0; 5], 5, 1e-6);
    assert!(
        matches!(err, Err(sim::SimError::Length { what: "gamma", .. })),
        "{err:?}"
    );
}

/// The bf16 bits of `v`, rounded to nearest even (NaN kept quiet).
fn bf16(v: f32) -> u16 {
    let u = v.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return ((u >> 16) | 0x40) as u16;
    }
    ((u + 0x7fff + ((u >> 16) & 1)) >> 16) as u16
}

#[test]
fn a_bf16_output_is_the_cpu_result_rounded_once() {
    assert_eq!(bf16(1.0), 0x3f80);
    assert_eq!(bf16(f32::from_bits(0x3f80_8000)), 0x3f80); // a tie rounds to even
    assert_eq!(bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
    for &(rows, cols) in SHAPES {
        let x = values(rows * cols, 14, 3.0);
        let (gamma, beta) = (values(cols, 15, 1.0), values(cols, 16, 1.0));
        let cpu = ln_forward(&x, &gamma, &beta, cols, 1e-6, false);
        let (y, _) = sim::layer_norm_forward_bf16(&x, &gamma, &beta, cols, 1e-6).expect("sim");
        // The fp32 values agree to 1e-5 of scale, so their roundings agree or sit one bf16
        // step apart (a value within 1e-5 of a rounding boundary).
        for (i, (&got, &want)) in y.iter().zip(&cpu.y).enumerate() {
            let want = bf16(want);
            assert!(
                got.abs_diff(want) <= 1,
                "y[{i}] {rows}×{cols}: {got:#06x} vs {want:#06x}"
            );
        }
        let exact = y
            .iter()
            .zip(&cpu.y)
            .filter(|(g, w)| **g == bf16(**w))
            .count();
        assert!(exact * 100 >= y.len() * 99, "{exact} of {} exact", y.len());
    }
}

#[test]
fn the_joins_backward_is_the_layer_norm_backward_plus_the_residual_bit_for_bit() {
    // `residual_layer_norm_backward` against the two kernels it fuses: LayerNorm's input
    // gradient added to the join output's own gradient, then the residual's backward
    // (`dx += g`, `dh += s·g`), with and without per-sample scales (one sample dropped).
    for &(rows, cols) in SHAPES {
        let tokens = rows.div_ceil(2).max(1);
        let samples = rows.div_ceil(tokens);
        let (x, h) = (values(rows * cols, 81, 1.0), values(rows * cols, 82, 1.0));
        let (gamma, beta) = (values(cols, 83, 1.0), values(cols, 84, 0.5));
        let scales: Vec<f32> = (0..samples)
            .map(|b| if b == 0 { 0.0 } else { 1.25 })
            .collect();
        for scale in [None, Some(&scales[..])] {
            let (x_out, _, stats) = sim::residual_layer_norm_forward(
                &x,
                (&h, None),
                scale,
                tokens,
                &gamma,
                &beta,
                cols,
                1e-6,
            )
            .expect("sim");
            let (dy, dx_out) = (values(rows * cols, 85, 1.0), values(rows * cols, 86, 1.0));
            let (dx0, dh0) = (values(rows * cols, 87, 1.0), values(rows * cols, 88, 1.0));
            let (mut dx, mut dh) = (dx0.clone(), dh0.clone());
            sim::residual_layer_norm_backward(
                &dy,
                &x_out,
                &stats,
                &gamma,
                &dx_out,
                scale,
                tokens,
                (&mut dx, &mut dh),
            )
            .expect("sim");
            // The reference: g = dx_out + LN'(dy) by the LayerNorm kernel, then the join.
            let mut g = dx_out.clone();
            sim::layer_norm_backward(&dy, &x_out, &stats, &gamma, &mut g).expect("sim");
            let s = |row: usize| scale.map_or(1.0, |s| s[row / tokens]);
            let want_dx: Vec<f32> = dx0.iter().zip(&g).map(|(a, g)| a + g).collect();
            let want_dh: Vec<f32> = (0..rows * cols)
                .map(|i| dh0[i] + s(i / cols) * g[i])
                .collect();
            assert_eq!(dx, want_dx, "dx {rows}×{cols}, scaled {}", scale.is_some());
            assert_eq!(dh, want_dh, "dh {rows}×{cols}, scaled {}", scale.is_some());
        }
    }
}
