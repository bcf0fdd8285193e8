//! The CUDA device's `Linear` (the `cuda/linear.cu` kernels in the simulator, the cuBLAS
//! products by `plan::gemm_reference` with the arguments the GPU passes) against the CPU
//! fused `Linear` (`fused::linear`): forward, and the three gradients added into what is
//! there. With fp32 operands the two differ only in summation order (`close`'s 1e-5); with
//! bf16 operands the products take `x`, `W` and `dy` rounded to bf16 (relative error ≤ 2⁻⁹
//! each), compared with the CPU on the same rounded operands, and with fp32 within 2e-2.

use super::values;
use crate::fused::linear::{backward_bias, backward_input, backward_weight, forward};
use crate::fused::tests::close;
use deitc_kernels::sim::{self, bf16_to_f32, LinearGrads, Operands};

/// (rows, inputs, outputs): one row, rows not a multiple of 64 (the bias parts), widths not
/// multiples of 32, a DeiT-like 197-token sample, and an output of 1.
const SHAPES: &[(usize, usize, usize)] = &[(1, 5, 3), (13, 40, 33), (130, 17, 64), (197, 24, 1)];

/// `x` with every value rounded to bf16, as `f32`.
fn rounded(x: &[f32]) -> Vec<f32> {
    sim::f32_to_bf16(x)
        .expect("sim")
        .into_iter()
        .map(bf16_to_f32)
        .collect()
}

/// The inputs of one check: `x (rows, I)`, `W (O, I)`, `b (O,)`, `dy (rows, O)`.
fn inputs(rows: usize, i: usize, o: usize) -> [Vec<f32>; 4] {
    [
        values(rows * i, 51, 2.0),
        values(o * i, 52, 0.5),
        values(o, 53, 1.0),
        values(rows * o, 54, 1.0),
    ]
}

/// The CPU's gradients added into `start`'s copies: `(dx, dW, db)`.
fn cpu_grads(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    rows: usize,
    start: &[Vec<f32>; 3],
) -> [Vec<f32>; 3] {
    let [mut dx, mut dw, mut db] = start.clone();
    backward_input(dy, w, rows, &mut dx);
    backward_weight(dy, x, rows, &mut dw);
    backward_bias(dy, &mut db);
    [dx, dw, db]
}

/// The simulated device's gradients added into `start`'s copies.
fn sim_grads(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    start: &[Vec<f32>; 3],
    how: Operands,
) -> [Vec<f32>; 3] {
    let [mut dx, mut dw, mut db] = start.clone();
    let g = LinearGrads {
        dx: &mut dx,
        dw: &mut dw,
        db: &mut db,
    };
    sim::linear_backward(x, w, dy, g, how).expect("sim");
    [dx, dw, db]
}

fn starts(rows: usize, i: usize, o: usize) -> [Vec<f32>; 3] {
    [
        values(rows * i, 55, 1.0),
        values(o * i, 56, 1.0),
        values(o, 57, 1.0),
    ]
}

#[test]
fn fp32_linear_matches_the_cpu_kernel() {
    for &(rows, i, o) in SHAPES {
        let [x, w, b, dy] = inputs(rows, i, o);
        let y = sim::linear_forward(&x, &w, &b, Operands::F32).expect("sim");
        close(&format!("y {rows}×{i}→{o}"), &y, &forward(&x, &w, &b, rows));
        let start = starts(rows, i, o);
        let got = sim_grads(&x, &w, &dy, &start, Operands::F32);
        let want = cpu_grads(&x, &w, &dy, rows, &start);
        for (name, (g, c)) in ["dx", "dW", "db"].iter().zip(got.iter().zip(&want)) {
            close(&format!("{name} {rows}×{i}→{o} (accumulated)"), g, c);
        }
    }
}

#[test]
fn bf16_linear_is_the_cpu_product_of_the_rounded_operands() {
    for &(rows, i, o) in SHAPES {
        let [x, w, b, dy] = inputs(rows, i, o);
        let y = sim::linear_forward(&x, &w, &b, Operands::Bf16).expect("sim");
        let (xr, wr, dyr) = (rounded(&x), rounded(&w), rounded(&dy));
        close(
            &format!("y {rows}×{i}→{o}"),
            &y,
            &forward(&xr, &wr, &b, rows),
        );
        let start = starts(rows, i, o);
        let got = sim_grads(&x, &w, &dy, &start, Operands::Bf16);
        // The bias gradient sums the fp32 dy: bf16 is for the products' operands only.
        let [dx, dw, _] = cpu_grads(&xr, &wr, &dyr, rows, &start);
        let [_, _, db] = cpu_grads(&x, &w, &dy, rows, &start);
        for (name, (g, c)) in ["dx", "dW", "db"].iter().zip(got.iter().zip(&[dx, dw, db])) {
            close(&format!("{name} {rows}×{i}→{o} (bf16)"), g, c);
        }
    }
}

#[test]
fn bf16_linear_is_within_2e_2_of_fp32() {
    // The bound for bf16 logits, on one layer: relative to the output's scale.
    let (rows, i, o) = (197, 192, 64);
    let [x, w, b, _] = inputs(rows, i, o);
    let y16 = sim::linear_forward(&x, &w, &b, Operands::Bf16).expect("sim");
    let y32 = forward(&x, &w, &b, rows);
    let scale = y32.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = y16
        .iter()
        .zip(&y32)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= 2e-2 * scale,
        "bf16 off by {worst} at scale {scale}"
    );
    assert!(
        worst > 0.0,
        "bf16 rounding had no effect: not a bf16 product"
    );
}

#[test]
fn bf16_rounding_is_to_nearest_even_and_keeps_specials() {
    let x = [
        1.0,
        1.0 + f32::EPSILON,          // rounds down to 1
        f32::from_bits(0x3f80_8000), // a tie: to even (1.0)
        f32::from_bits(0x3f81_8000), // a tie: to even (up)
        -2.5,
        f32::INFINITY,
        f32::NAN,
        f32::MAX, // rounds up to infinity
    ];
    let b = sim::f32_to_bf16(&x).expect("sim");
    assert_eq!(&b[..6], &[0x3f80, 0x3f80, 0x3f80, 0x3f82, 0xc020, 0x7f80]);
    assert!(bf16_to_f32(b[6]).is_nan());
    assert_eq!(b[7], 0x7f80);
}
