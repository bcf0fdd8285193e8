//! The simulator's launches of `cuda/layer_norm.cu`.

use super::{run, run_args, Arg, SimError};
use crate::plan::{self, RowInputs, RowOutputs};

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
    let rows = x.len() / cols.max(1);
    let (mut y, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
    let out = RowOutputs {
        y: &mut y[..],
        mean: &mut mean[..],
        rstd: &mut rstd[..],
    };
    run(plan::layer_norm_forward(x, gamma, beta, out, cols, eps))?;
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
    let rows = x.len() / cols.max(1);
    let (mut y, mut mean, mut rstd) = (vec![0u16; x.len()], vec![0.0; rows], vec![0.0; rows]);
    let out = RowOutputs {
        y: Arg::OutBf16(&mut y),
        mean: Arg::Out(&mut mean),
        rstd: Arg::Out(&mut rstd),
    };
    run_args(plan::layer_norm_forward_bf16(
        Arg::In(x),
        Arg::In(gamma),
        Arg::In(beta),
        out,
        cols,
        eps,
    ))?;
    Ok((y, RowStats { mean, rstd }))
}

/// `residual_layer_norm_forward`: `x' = x + s·(h + bias)` (`scale` per sample of `tokens`
/// rows, or 1; `bias` per column, or 0), then LayerNorm of `x'`. Returns `(x', y, stats)`.
#[allow(clippy::too_many_arguments)]
pub fn residual_layer_norm_forward(
    x: &[f32],
    (h, bias): (&[f32], Option<&[f32]>),
    scale: Option<&[f32]>,
    tokens: usize,
    gamma: &[f32],
    beta: &[f32],
    cols: usize,
    eps: f32,
) -> Result<(Vec<f32>, Vec<f32>, RowStats), SimError> {
    let rows = x.len() / cols.max(1);
    let mut x_out = vec![0.0; x.len()];
    let (mut y, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
    let out = RowOutputs {
        y: &mut y[..],
        mean: &mut mean[..],
        rstd: &mut rstd[..],
    };
    run(plan::residual_layer_norm_forward(
        x,
        (h, bias),
        scale,
        tokens,
        &mut x_out[..],
        gamma,
        beta,
        out,
        cols,
        eps,
    ))?;
    Ok((x_out, y, RowStats { mean, rstd }))
}

/// `residual_layer_norm_forward_bf16`: [`residual_layer_norm_forward`] with `y` in bf16
/// bits. Returns `(x', y, stats)`.
#[allow(clippy::too_many_arguments)]
pub fn residual_layer_norm_forward_bf16(
    x: &[f32],
    (h, bias): (&[f32], Option<&[f32]>),
    scale: Option<&[f32]>,
    tokens: usize,
    gamma: &[f32],
    beta: &[f32],
    cols: usize,
    eps: f32,
) -> Result<(Vec<f32>, Vec<u16>, RowStats), SimError> {
    let rows = x.len() / cols.max(1);
    let mut x_out = vec![0.0; x.len()];
    let (mut y, mut mean, mut rstd) = (vec![0u16; x.len()], vec![0.0; rows], vec![0.0; rows]);
    let out = RowOutputs {
        y: Arg::OutBf16(&mut y),
        mean: Arg::Out(&mut mean),
        rstd: Arg::Out(&mut rstd),
    };
    run_args(plan::residual_layer_norm_forward_bf16(
        Arg::In(x),
        (Arg::In(h), bias.map(Arg::In)),
        scale.map(Arg::In),
        tokens,
        Arg::Out(&mut x_out),
        Arg::In(gamma),
        Arg::In(beta),
        out,
        cols,
        eps,
    ))?;
    Ok((x_out, y, RowStats { mean, rstd }))
}

/// The LayerNorm backward: `dx += ∂L/∂x` (accumulated into `dx`), and `(dγ, dβ)` summed
/// per part of [`crate::launch::ROWS_PER_PART`] rows, then the parts in order.
pub fn layer_norm_backward(
    dy: &[f32],
    x: &[f32],
    stats: &RowStats,
    gamma: &[f32],
    dx: &mut [f32],
) -> Result<(Vec<f32>, Vec<f32>), SimError> {
    let cols = gamma.len();
    let rows = stats.mean.len();
    let saved = || RowInputs {
        x,
        mean: &stats.mean[..],
        rstd: &stats.rstd[..],
    };
    run(plan::layer_norm_backward_input(
        dy,
        saved(),
        gamma,
        dx,
        true,
    ))?;
    let (mut gp, mut bp) = (
        vec![0.0; plan::part_len(rows, cols)],
        vec![0.0; plan::part_len(rows, cols)],
    );
    run(plan::layer_norm_backward_params(
        dy,
        saved(),
        cols,
        &mut gp[..],
        &mut bp[..],
    ))?;
    let (mut dgamma, mut dbeta) = (vec![0.0; cols], vec![0.0; cols]);
    run(plan::column_sum_accumulate(&gp[..], &mut dgamma[..]))?;
    run(plan::column_sum_accumulate(&bp[..], &mut dbeta[..]))?;
    Ok((dgamma, dbeta))
}

/// `residual_layer_norm_backward`: `g = dx_out + LN'(dy)` per row of the join's output `x_out`
/// (with the forward's `stats`), then `dx += g` and `dh += s·g` (`scale` per sample of
/// `tokens` rows, or 1).
#[allow(clippy::too_many_arguments)]
pub fn residual_layer_norm_backward(
    dy: &[f32],
    x_out: &[f32],
    stats: &RowStats,
    gamma: &[f32],
    dx_out: &[f32],
    scale: Option<&[f32]>,
    tokens: usize,
    (dx, dh): (&mut [f32], &mut [f32]),
) -> Result<(), SimError> {
    run(plan::residual_layer_norm_backward(
        dy,
        RowInputs {
            x: x_out,
            mean: &stats.mean[..],
            rstd: &stats.rstd[..],
        },
        gamma,
        dx_out,
        scale,
        tokens,
        plan::JoinGrads { dx, dh },
    ))
}
