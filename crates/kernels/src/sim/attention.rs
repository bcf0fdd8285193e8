//! The simulator's launches of `cuda/attention.cu`: the attention branch's copies between
//! token rows (qkv `(B, T, 3D)`, merged heads `(B, T, D)`) and head matrices `(B·H, T, hd)`,
//! the backward ones adding into the gradient they are given, as the CUDA device runs them.

use super::{run, run_args, Arg, SimError};
use crate::plan::{self, HeadShape, Heads};

/// `qkv_to_heads`: q, k, v `(B·H, T, hd)` from `qkv` `(B, T, 3D)`, plus `bias` `(3D,)` per
/// column when given.
pub fn qkv_to_heads(
    qkv: &[f32],
    bias: Option<&[f32]>,
    shape: HeadShape,
) -> Result<Heads<Vec<f32>>, SimError> {
    let n = shape.len();
    let (mut q, mut k, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let out = Heads {
        q: &mut q[..],
        k: &mut k[..],
        v: &mut v[..],
    };
    run(plan::qkv_to_heads(qkv, bias, out, shape))?;
    Ok(Heads { q, k, v })
}

/// `qkv_to_heads_bf16`: [`qkv_to_heads`] with the heads in bf16 bits.
pub fn qkv_to_heads_bf16(
    qkv: &[f32],
    bias: Option<&[f32]>,
    shape: HeadShape,
) -> Result<Heads<Vec<u16>>, SimError> {
    let n = shape.len();
    let (mut q, mut k, mut v) = (vec![0u16; n], vec![0u16; n], vec![0u16; n]);
    let out = Heads {
        q: Arg::OutBf16(&mut q),
        k: Arg::OutBf16(&mut k),
        v: Arg::OutBf16(&mut v),
    };
    run_args(plan::qkv_to_heads_bf16(
        Arg::In(qkv),
        bias.map(Arg::In),
        out,
        shape,
    ))?;
    Ok(Heads { q, k, v })
}

/// `heads_to_qkv`: `dqkv (B, T, 3D) += dq | dk | dv` (each `(B·H, T, hd)`).
pub fn heads_to_qkv(
    dq: &[f32],
    dk: &[f32],
    dv: &[f32],
    dqkv: &mut [f32],
    shape: HeadShape,
    accumulate: bool,
) -> Result<(), SimError> {
    let grads = Heads {
        q: dq,
        k: dk,
        v: dv,
    };
    run(plan::heads_to_qkv(grads, dqkv, shape, accumulate))
}

/// `heads_to_rows`: the heads of `o (B·H, T, hd)` merged into rows `(B, T, D)`.
pub fn heads_to_rows(o: &[f32], shape: HeadShape) -> Result<Vec<f32>, SimError> {
    let mut y = vec![0.0; shape.len()];
    run(plan::heads_to_rows(o, &mut y[..], shape))?;
    Ok(y)
}

/// `rows_to_heads`: `d_o (B·H, T, hd) += dy (B, T, D)` split into heads.
pub fn rows_to_heads(
    dy: &[f32],
    d_o: &mut [f32],
    shape: HeadShape,
    accumulate: bool,
) -> Result<(), SimError> {
    run(plan::rows_to_heads(dy, d_o, shape, accumulate))
}
