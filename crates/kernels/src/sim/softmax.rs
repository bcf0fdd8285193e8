//! The simulator's launches of `cuda/softmax.cu`: the attention softmax over rows of a
//! `(rows, cols)` score matrix (rows = B·H·T queries, cols = T keys), scale folded in.

use super::{run, SimError};
use crate::plan;

/// `softmax_forward`: `p = softmax(scale·s)` for each row of `s` (`rows × cols`), the
/// returned `p` of the same shape.
pub fn softmax_forward(s: &[f32], cols: usize, scale: f32) -> Result<Vec<f32>, SimError> {
    let mut p = vec![0.0; s.len()];
    run(plan::softmax_forward(s, &mut p[..], cols, scale))?;
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
    let mut ds = vec![0.0; p.len()];
    run(plan::softmax_backward(
        p,
        dp,
        &mut ds[..],
        cols,
        scale,
        false,
    ))?;
    Ok(ds)
}

/// `softmax_backward` accumulating: `ds += scale·p ⊙ (dp − Σ_j dp_j·p_j)`, as the CUDA
/// device's attention softmax runs it.
pub fn softmax_backward_accumulate(
    p: &[f32],
    dp: &[f32],
    ds: &mut [f32],
    cols: usize,
    scale: f32,
) -> Result<(), SimError> {
    run(plan::softmax_backward(p, dp, ds, cols, scale, true))
}
