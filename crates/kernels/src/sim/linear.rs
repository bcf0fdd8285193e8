//! The simulator's launches of `cuda/linear.cu`, and a `Linear` on tokens run as the CUDA
//! device runs it: the kernels here, the cuBLAS products by [`plan::gemm_reference`] with the
//! same [`plan::Gemm`] arguments, bf16 operands rounded by the `f32_to_bf16` kernel.

use super::{run, run_args, Arg, SimError};
use crate::plan::{self, Factor, Gemm};

/// How the products take their operands: `f32`, or rounded to bf16 (`train.precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operands {
    F32,
    Bf16,
}

/// `f32_to_bf16`: `x` rounded to bf16, as bits.
pub fn f32_to_bf16(x: &[f32]) -> Result<Vec<u16>, SimError> {
    let mut y = vec![0u16; x.len()];
    run_args(plan::f32_to_bf16(Arg::In(x), Arg::OutBf16(&mut y)))?;
    Ok(y)
}

/// A bf16 value (its bits) as `f32`: exact.
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// `bias_rows`: `rows` rows of `bias`.
pub fn bias_rows(bias: &[f32], rows: usize) -> Result<Vec<f32>, SimError> {
    let mut y = vec![0.0; rows * bias.len()];
    run(plan::bias_rows(bias, &mut y[..]))?;
    Ok(y)
}

/// `db += Σ_rows dy` over `dy (rows, cols)`: `column_sum_partial`, then the parts in order.
pub fn column_sum(dy: &[f32], db: &mut [f32]) -> Result<(), SimError> {
    let cols = db.len();
    let rows = dy.len() / cols.max(1);
    let mut parts = vec![0.0; plan::part_len(rows, cols)]; // (parts, cols)
    run(plan::column_sum_partial(dy, &mut parts[..], cols))?;
    run(plan::column_sum_accumulate(&parts[..], db))
}

/// An operand as the product reads it: itself, or its bf16 rounding.
fn operand(x: &[f32], how: Operands) -> Result<Vec<f32>, SimError> {
    Ok(match how {
        Operands::F32 => x.to_vec(),
        Operands::Bf16 => f32_to_bf16(x)?.into_iter().map(bf16_to_f32).collect(),
    })
}

/// One product `g` into `c`, its operands picked from `x`, `w`, `dy`.
fn product(g: Gemm, (x, w, dy): (&[f32], &[f32], &[f32]), c: &mut [f32]) -> Result<(), SimError> {
    let pick = |f: Factor| match f {
        Factor::Left => x,
        Factor::Right => w,
        Factor::OutputGrad => dy,
    };
    Ok(plan::gemm_reference(&g, pick(g.a), pick(g.b), c)?)
}

/// `y = x·Wᵀ + b` for `x (rows, I)`, `w (O, I)`, `b (O,)`: `(rows, O)`.
pub fn linear_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    how: Operands,
) -> Result<Vec<f32>, SimError> {
    let (o, i) = (b.len(), w.len() / b.len().max(1));
    let rows = x.len() / i.max(1);
    let mut y = bias_rows(b, rows)?;
    let (x, w) = (operand(x, how)?, operand(w, how)?);
    product(
        plan::gemm_forward(rows, i, o)?,
        (&x[..], &w[..], &[]),
        &mut y,
    )?;
    Ok(y)
}

/// The gradients a `Linear`'s backward adds: `dx += dy·W`, `dw += dyᵀ·x`, `db += Σ_rows dy`.
pub struct LinearGrads<'a> {
    pub dx: &'a mut [f32],
    pub dw: &'a mut [f32],
    pub db: &'a mut [f32],
}

/// The backward of [`linear_forward`] from `dy (rows, O)`, accumulating into `g`.
pub fn linear_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: LinearGrads<'_>,
    how: Operands,
) -> Result<(), SimError> {
    let (o, i) = (g.db.len(), w.len() / g.db.len().max(1));
    let rows = x.len() / i.max(1);
    column_sum(dy, g.db)?;
    let (x, w, dy) = (operand(x, how)?, operand(w, how)?, operand(dy, how)?);
    product(
        plan::gemm_backward_input(rows, i, o)?,
        (&x[..], &w[..], &dy[..]),
        g.dx,
    )?;
    product(
        plan::gemm_backward_weight(rows, i, o)?,
        (&x[..], &w[..], &dy[..]),
        g.dw,
    )
}
