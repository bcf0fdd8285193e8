//! The simulator's launches of `cuda/layer_norm.cu`.

use super::{checked, int, len, Arg, SimError};
use crate::launch;

/// The rows of `x` (`rows × cols`), checking `x`, `gamma` and `beta` against `cols`.
fn rows_of(x: &[f32], gamma: &[f32], beta: &[f32], cols: usize) -> Result<usize, SimError> {
    let rows = x.len() / cols.max(1);
    len("x", x, rows * cols)?;
    len("gamma", gamma, cols)?;
    len("beta", beta, cols)?;
    Ok(rows)
}

/// The statistics a LayerNorm forward saves for its backward: per row μ and 1/σ.
#[derive(Debug, Clone, PartialEq)]
pub struct RowStats {
    pub mean: Vec<f32>,
    pub rstd: Vec<f32>,
}

/// `layer_norm_forward`: `y` = LayerNorm of each row of `x` (`rows × cols`).
pub fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    cols: usize,
    eps: f32,
) -> Result<(Vec<f32>, RowStats), SimError> {
    let rows = rows_of(x, gamma, beta, cols)?;
    let (mut y, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
    checked(
        "layer_norm_forward",
        &launch::per_row(rows),
        &mut [
            Arg::In(x),
            Arg::In(gamma),
            Arg::In(beta),
            Arg::Out(&mut y),
            Arg::Out(&mut mean),
            Arg::Out(&mut rstd),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("cols", cols)?),
            Arg::F32(eps),
        ],
    )?;
    Ok((y, RowStats { mean, rstd }))
}

/// `layer_norm_forward_bf16`: as [`layer_norm_forward`], with `y` rounded to bf16 once at
/// the store (its bits).
pub fn layer_norm_forward_bf16(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    cols: usize,
    eps: f32,
) -> Result<(Vec<u16>, RowStats), SimError> {
    let rows = rows_of(x, gamma, beta, cols)?;
    let (mut y, mut mean, mut rstd) = (vec![0u16; x.len()], vec![0.0; rows], vec![0.0; rows]);
    checked(
        "layer_norm_forward_bf16",
        &launch::per_row(rows),
        &mut [
            Arg::In(x),
            Arg::In(gamma),
            Arg::In(beta),
            Arg::OutBf16(&mut y),
            Arg::Out(&mut mean),
            Arg::Out(&mut rstd),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("cols", cols)?),
            Arg::F32(eps),
        ],
    )?;
    Ok((y, RowStats { mean, rstd }))
}

/// `residual_layer_norm_forward`: `x' = x + s·h` (`scale` per sample of `tokens` rows, or
/// 1), then LayerNorm of `x'`. Returns `(x', y, stats)`.
#[allow(clippy::too_many_arguments)]
pub fn residual_layer_norm_forward(
    x: &[f32],
    h: &[f32],
    scale: Option<&[f32]>,
    tokens: usize,
    gamma: &[f32],
    beta: &[f32],
    cols: usize,
    eps: f32,
) -> Result<(Vec<f32>, Vec<f32>, RowStats), SimError> {
    let rows = x.len() / cols.max(1);
    len("x", x, rows * cols)?;
    len("h", h, rows * cols)?;
    len("gamma", gamma, cols)?;
    len("beta", beta, cols)?;
    if let Some(s) = scale {
        len("scale", s, rows.div_ceil(tokens.max(1)))?;
    }
    let mut x_out = vec![0.0; x.len()];
    let (mut y, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
    checked(
        "residual_layer_norm_forward",
        &launch::per_row(rows),
        &mut [
            Arg::In(x),
            Arg::In(h),
            scale.map_or(Arg::Null, Arg::In),
            Arg::I32(int("tokens", tokens.max(1))?),
            Arg::Out(&mut x_out),
            Arg::In(gamma),
            Arg::In(beta),
            Arg::Out(&mut y),
            Arg::Out(&mut mean),
            Arg::Out(&mut rstd),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("cols", cols)?),
            Arg::F32(eps),
        ],
    )?;
    Ok((x_out, y, RowStats { mean, rstd }))
}

/// The LayerNorm backward: `dx += ∂L/∂x` (accumulated into `dx`), and `(dγ, dβ)` summed
/// per part of [`launch::ROWS_PER_PART`] rows, then the parts in order.
pub fn layer_norm_backward(
    dy: &[f32],
    x: &[f32],
    stats: &RowStats,
    gamma: &[f32],
    dx: &mut [f32],
) -> Result<(Vec<f32>, Vec<f32>), SimError> {
    let cols = gamma.len();
    let rows = stats.mean.len();
    for (what, s) in [("dy", dy), ("x", x), ("dx", &*dx)] {
        len(what, s, rows * cols)?;
    }
    len("rstd", &stats.rstd, rows)?;
    let (r, c) = (int("rows", rows)?, int("cols", cols)?);
    checked(
        "layer_norm_backward_input",
        &launch::per_row(rows),
        &mut [
            Arg::In(dy),
            Arg::In(x),
            Arg::In(&stats.mean),
            Arg::In(&stats.rstd),
            Arg::In(gamma),
            Arg::Out(dx),
            Arg::I32(r),
            Arg::I32(c),
            Arg::I32(1),
        ],
    )?;
    let parts = launch::parts(rows);
    let (mut gp, mut bp) = (vec![0.0; parts * cols], vec![0.0; parts * cols]);
    checked(
        "layer_norm_backward_params",
        &launch::per_column(cols, parts),
        &mut [
            Arg::In(dy),
            Arg::In(x),
            Arg::In(&stats.mean),
            Arg::In(&stats.rstd),
            Arg::Out(&mut gp),
            Arg::Out(&mut bp),
            Arg::I32(r),
            Arg::I32(c),
            Arg::I32(int("rows per part", launch::ROWS_PER_PART)?),
        ],
    )?;
    let (mut dgamma, mut dbeta) = (vec![0.0; cols], vec![0.0; cols]);
    for (part, out) in [(&gp, &mut dgamma), (&bp, &mut dbeta)] {
        checked(
            "column_sum_accumulate",
            &launch::per_column(cols, 1),
            &mut [
                Arg::In(part),
                Arg::I32(int("parts", parts)?),
                Arg::I32(c),
                Arg::Out(out),
            ],
        )?;
    }
    Ok((dgamma, dbeta))
}
