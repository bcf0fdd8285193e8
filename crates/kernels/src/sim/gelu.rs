//! The simulator's launches of `cuda/gelu.cu`: bias + exact (erf) GELU over a `(rows, cols)`
//! matrix with a per-column bias `(cols,)` (the MLP's fc1 output).

use super::{checked, int, len, Arg, SimError};
use crate::launch;

/// `bias_gelu_forward`: `y = gelu(x + bias)` for `x` (`rows × cols`, `cols = bias.len()`),
/// the returned `y` of the same shape.
pub fn bias_gelu_forward(x: &[f32], bias: &[f32]) -> Result<Vec<f32>, SimError> {
    let cols = bias.len();
    let rows = x.len() / cols.max(1);
    len("x", x, rows * cols)?;
    let mut y = vec![0.0; x.len()];
    checked(
        "bias_gelu_forward",
        &launch::per_element(rows * cols),
        &mut [
            Arg::In(x),
            Arg::In(bias),
            Arg::Out(&mut y),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("cols", cols)?),
        ],
    )?;
    Ok(y)
}

/// The bias + GELU backward from `dy` and the forward's `x` (both `rows × cols`) and `bias`
/// (`cols`): returns `dx = dy·gelu'(x + bias)` (`rows × cols`), and accumulates
/// `db += Σ_rows dx` (`db`: `cols`), summed per part of [`launch::ROWS_PER_PART`] rows, then
/// the parts in order.
pub fn bias_gelu_backward(
    dy: &[f32],
    x: &[f32],
    bias: &[f32],
    db: &mut [f32],
) -> Result<Vec<f32>, SimError> {
    let cols = bias.len();
    let rows = x.len() / cols.max(1);
    len("x", x, rows * cols)?;
    len("dy", dy, rows * cols)?;
    len("db", db, cols)?;
    let (r, c) = (int("rows", rows)?, int("cols", cols)?);
    let parts = launch::parts(rows);
    let mut dx = vec![0.0; x.len()];
    let mut db_part = vec![0.0; parts * cols]; // (parts, cols)
    checked(
        "bias_gelu_backward",
        &launch::per_column(cols, parts),
        &mut [
            Arg::In(dy),
            Arg::In(x),
            Arg::In(bias),
            Arg::Out(&mut dx),
            Arg::Out(&mut db_part),
            Arg::I32(r),
            Arg::I32(c),
            Arg::I32(int("rows per part", launch::ROWS_PER_PART)?),
        ],
    )?;
    checked(
        "column_sum_accumulate",
        &launch::per_column(cols, 1),
        &mut [
            Arg::In(&db_part),
            Arg::I32(int("parts", parts)?),
            Arg::I32(c),
            Arg::Out(db),
        ],
    )?;
    Ok(dx)
}
