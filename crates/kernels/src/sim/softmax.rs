//! The simulator's launches of `cuda/softmax.cu`: the attention softmax over rows of a
//! `(rows, cols)` score matrix (rows = B·H·T queries, cols = T keys), scale folded in.

use super::{run, run_args, Arg, SimError};
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

/// `softmax_forward_bf16`: `softmax(scale·s)` per row, as bf16 bits.
pub fn softmax_forward_bf16(s: &[f32], cols: usize, scale: f32) -> Result<Vec<u16>, SimError> {
    let mut p = vec![0u16; s.len()];
    run_args(plan::softmax_forward_bf16(
        Arg::In(s),
        Arg::OutBf16(&mut p),
        cols,
        scale,
    ))?;
    Ok(p)
}

/// `softmax_backward_bf16` accumulating: `ds += scale·p ⊙ (dp − Σ_j dp_j·p_j)` with `p` in
/// bf16 bits.
pub fn softmax_backward_bf16(
    p: &[u16],
    dp: &[f32],
    ds: &mut [f32],
    cols: usize,
    scale: f32,
) -> Result<(), SimError> {
    run_args(plan::softmax_backward_bf16(
        Arg::InBf16(p),
        Arg::In(dp),
        Arg::Out(ds),
        cols,
        scale,
        true,
    ))
}

/// `softmax_backward_bf16_out`: `ds` in bf16 bits, overwritten, from `p` in bf16 bits and
/// `dp`, as the CUDA attention core's backward runs it under bf16.
pub fn softmax_backward_bf16_out(
    p: &[u16],
    dp: &[f32],
    cols: usize,
    scale: f32,
) -> Result<Vec<u16>, SimError> {
    let mut ds = vec![0u16; dp.len()];
    run_args(plan::softmax_backward_bf16_out(
        Arg::InBf16(p),
        Arg::In(dp),
        Arg::OutBf16(&mut ds),
        cols,
        scale,
    ))?;
    Ok(ds)
}
