//! The simulator's launches of `cuda/softmax.cu`: the attention softmax over rows of a
//! `(rows, cols)` score matrix (rows = B·H·T queries, cols = T keys), scale folded in.

use super::{checked, int, len, Arg, SimError};
use crate::launch;

/// `softmax_forward`: `p = softmax(scale·s)` for each row of `s` (`rows × cols`), the
/// returned `p` of the same shape.
pub fn softmax_forward(s: &[f32], cols: usize, scale: f32) -> Result<Vec<f32>, SimError> {
    let rows = s.len() / cols.max(1);
    len("s", s, rows * cols)?;
    let mut p = vec![0.0; s.len()];
    checked(
        "softmax_forward",
        &launch::per_row(rows),
        &mut [
            Arg::In(s),
            Arg::Out(&mut p),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("cols", cols)?),
            Arg::F32(scale),
        ],
    )?;
    Ok(p)
}

/// `softmax_backward`: from the forward's `p` and the gradient `dp` of `p` (both
/// `rows × cols`), the gradient of the scores `ds = scale·p ⊙ (dp − Σ_j dp_j·p_j)` per
/// row, returned (not accumulated: the CPU kernel overwrites too).
pub fn softmax_backward(
    p: &[f32],
    dp: &[f32],
    cols: usize,
    scale: f32,
) -> Result<Vec<f32>, SimError> {
    let rows = p.len() / cols.max(1);
    len("p", p, rows * cols)?;
    len("dp", dp, rows * cols)?;
    let mut ds = vec![0.0; p.len()];
    checked(
        "softmax_backward",
        &launch::per_row(rows),
        &mut [
            Arg::In(p),
            Arg::In(dp),
            Arg::Out(&mut ds),
            Arg::I32(int("rows", rows)?),
            Arg::I32(int("cols", cols)?),
            Arg::F32(scale),
        ],
    )?;
    Ok(ds)
}
