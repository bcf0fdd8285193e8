//! The simulator's launches of `cuda/gelu.cu`: bias + exact (erf) GELU over a `(rows, cols)`
//! matrix with a per-column bias `(cols,)` (the MLP's fc1 output), or without a bias.

use super::{run, run_args, Arg, SimError};
use crate::plan;

/// `bias_gelu_forward`: `y = gelu(x + bias)` for `x` (`rows × cols`), the returned `y` of
/// the same shape; without a bias, `gelu(x)`.
pub fn bias_gelu_forward(
    x: &[f32],
    bias: Option<&[f32]>,
    cols: usize,
) -> Result<Vec<f32>, SimError> {
    let mut y = vec![0.0; x.len()];
    run(plan::bias_gelu_forward(x, bias, &mut y[..], cols))?;
    Ok(y)
}

/// The bias + GELU backward from `dy` and the forward's `x` (both `rows × cols`): returns
/// `dx = dy·gelu'(x + bias)` (`rows × cols`) and, with a bias `(bias, db)`, accumulates
/// `db += Σ_rows dx` (`cols`), summed per part of [`crate::launch::ROWS_PER_PART`] rows, then
/// the parts in order.
pub fn bias_gelu_backward(
    dy: &[f32],
    x: &[f32],
    bias: Option<(&[f32], &mut [f32])>,
    cols: usize,
) -> Result<Vec<f32>, SimError> {
    let rows = x.len() / cols.max(1);
    let mut dx = vec![0.0; x.len()];
    match bias {
        Some((bias, db)) => {
            plan::len("db", &&*db, cols)?;
            let mut parts = vec![0.0; plan::part_len(rows, cols)]; // (parts, cols)
            run(plan::bias_gelu_backward(
                dy,
                x,
                Some(bias),
                &mut dx[..],
                Some(&mut parts[..]),
                cols,
                false,
            ))?;
            run(plan::column_sum_accumulate(&parts[..], db))?;
        }
        None => run(plan::bias_gelu_backward(
            dy,
            x,
            None,
            &mut dx[..],
            None,
            cols,
            false,
        ))?,
    }
    Ok(dx)
}

/// GELU's backward without a bias, accumulating: `dx += dy·gelu'(x)` (all `rows × cols`), as
/// the CUDA device's `gelu` runs it.
pub fn gelu_backward_accumulate(
    dy: &[f32],
    x: &[f32],
    dx: &mut [f32],
    cols: usize,
) -> Result<(), SimError> {
    run(plan::bias_gelu_backward(dy, x, None, dx, None, cols, true))
}

/// `gelu_forward_keep_bf16`: `(gelu(x), x in bf16 bits)`, as the CUDA device's GELU runs
/// under `train.precision = bf16`.
pub fn gelu_forward_keep_bf16(x: &[f32]) -> Result<(Vec<f32>, Vec<u16>), SimError> {
    let (mut y, mut keep) = (vec![0.0; x.len()], vec![0u16; x.len()]);
    run_args(plan::gelu_forward_keep_bf16(
        Arg::In(x),
        Arg::Out(&mut y),
        Arg::OutBf16(&mut keep),
    ))?;
    Ok((y, keep))
}

/// `gelu_backward_bf16`: `dx += dy·gelu'(keep)` from the kept bf16 input.
pub fn gelu_backward_bf16(dy: &[f32], keep: &[u16], dx: &mut [f32]) -> Result<(), SimError> {
    run_args(plan::gelu_backward_bf16(
        Arg::In(dy),
        Arg::InBf16(keep),
        Arg::Out(dx),
    ))
}

/// `bias_gelu_forward_bf16`: `(keep, y)` in bf16 bits, `keep` = `x + bias` and `y` =
/// `gelu(x + bias)` for fc1's product `x` (`rows × cols`), as the CUDA MLP runs it under bf16.
pub fn bias_gelu_forward_bf16(x: &[f32], bias: &[f32]) -> Result<(Vec<u16>, Vec<u16>), SimError> {
    let (mut keep, mut y) = (vec![0u16; x.len()], vec![0u16; x.len()]);
    run_args(plan::bias_gelu_forward_bf16(
        Arg::In(x),
        Arg::In(bias),
        Some(Arg::OutBf16(&mut keep)),
        Arg::OutBf16(&mut y),
        bias.len(),
    ))?;
    Ok((keep, y))
}

/// `bias_gelu_backward_bf16`: returns `dh = dy·gelu'(keep)` in bf16 bits (`rows × cols`) and
/// accumulates `db += Σ_rows dy·gelu'(keep)` (`cols`), per part then the parts in order.
pub fn bias_gelu_backward_bf16(
    dy: &[f32],
    keep: &[u16],
    db: &mut [f32],
) -> Result<Vec<u16>, SimError> {
    let cols = db.len();
    let rows = dy.len() / cols.max(1);
    let mut dh = vec![0u16; dy.len()];
    let mut parts = vec![0.0; plan::part_len(rows, cols)]; // (parts, cols)
    run_args(plan::bias_gelu_backward_bf16(
        Arg::In(dy),
        Arg::InBf16(keep),
        Arg::OutBf16(&mut dh),
        Arg::Out(&mut parts),
        cols,
    ))?;
    run(plan::column_sum_accumulate(&parts[..], db))?;
    Ok(dh)
}
