//! Launch plans of `cuda/attention.cu`: the copies between the attention branch's token rows
//! (qkv `(B, T, 3D)`, the merged heads `(B, T, D)`, timm's layout) and its head matrices
//! `(B·H, T, hd)`, forward and backward (the backward ones add into the gradient).

use super::{int, launch, len, Buffer, Launch, Param, PlanError};
use crate::launch as config;

/// The sizes of an attention branch's head layout: `batch` samples of `tokens` tokens,
/// `heads` heads of `head_dim` columns (`D = heads·head_dim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadShape {
    pub batch: usize,
    pub tokens: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl HeadShape {
    /// The elements of one `(B·H, T, hd)` head tensor, and of the `(B, T, D)` rows: `B·T·D`.
    pub fn len(&self) -> usize {
        self.batch * self.tokens * self.heads * self.head_dim
    }

    /// Whether the tensors are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kernel's size parameters, `batch, tokens, heads, head_dim`, after checking that
    /// `parts` tensors of [`Self::len`] elements fit an `int` (the launch's thread count).
    fn params<I, O>(&self, parts: usize) -> Result<[Param<I, O>; 4], PlanError> {
        int("elements", parts * self.len())?;
        Ok([
            Param::I32(int("batch", self.batch)?),
            Param::I32(int("tokens", self.tokens)?),
            Param::I32(int("heads", self.heads)?),
            Param::I32(int("head_dim", self.head_dim)?),
        ])
    }
}

/// q, k and v, each `(B·H, T, hd)`.
pub struct Heads<B> {
    pub q: B,
    pub k: B,
    pub v: B,
}

/// `qkv_to_heads`: `q`, `k`, `v` `(B·H, T, hd)` = the three parts of `qkv` `(B, T, 3D)` split
/// into heads (k not transposed), with `bias` `(3D,)` added per column when given.
pub fn qkv_to_heads<I: Buffer, O: Buffer>(
    qkv: I,
    bias: Option<I>,
    out: Heads<O>,
    shape: HeadShape,
) -> Result<Launch<I, O>, PlanError> {
    split_of("qkv_to_heads", qkv, bias, out, shape)
}

/// `qkv_to_heads_bf16`: [`qkv_to_heads`] with `q`, `k`, `v` written in bf16 bits.
pub fn qkv_to_heads_bf16<I: Buffer, O: Buffer>(
    qkv: I,
    bias: Option<I>,
    out: Heads<O>,
    shape: HeadShape,
) -> Result<Launch<I, O>, PlanError> {
    split_of("qkv_to_heads_bf16", qkv, bias, out, shape)
}

/// The plan of a split kernel (heads in f32 or bf16): both take the same parameters.
fn split_of<I: Buffer, O: Buffer>(
    kernel: &'static str,
    qkv: I,
    bias: Option<I>,
    out: Heads<O>,
    shape: HeadShape,
) -> Result<Launch<I, O>, PlanError> {
    let n = shape.len();
    len("qkv", &qkv, 3 * n)?;
    if let Some(b) = &bias {
        len("bias", b, 3 * shape.heads * shape.head_dim)?;
    }
    len("q", &out.q, n)?;
    len("k", &out.k, n)?;
    len("v", &out.v, n)?;
    let mut params = vec![
        Param::In(qkv),
        bias.map_or(Param::Null, Param::In),
        Param::Out(out.q),
        Param::Out(out.k),
        Param::Out(out.v),
    ];
    params.extend(shape.params(3)?);
    launch(kernel, config::per_element(3 * n), params)
}

/// `heads_to_qkv`: `dqkv` `(B, T, 3D)` += `dq | dk | dv` (each `(B·H, T, hd)`) in qkv's
/// layout; with `accumulate` false, `=` (dqkv is not read: a new gradient's first write).
pub fn heads_to_qkv<I: Buffer, O: Buffer>(
    grads: Heads<I>,
    dqkv: O,
    shape: HeadShape,
    accumulate: bool,
) -> Result<Launch<I, O>, PlanError> {
    let n = shape.len();
    len("dq", &grads.q, n)?;
    len("dk", &grads.k, n)?;
    len("dv", &grads.v, n)?;
    len("dqkv", &dqkv, 3 * n)?;
    let mut params = vec![
        Param::In(grads.q),
        Param::In(grads.k),
        Param::In(grads.v),
        Param::Out(dqkv),
    ];
    params.extend(shape.params(3)?);
    params.push(Param::I32(i32::from(accumulate)));
    launch("heads_to_qkv", config::per_element(3 * n), params)
}

/// `heads_to_rows`: `y` `(B, T, D)` = the heads of `o` `(B·H, T, hd)` merged in order.
pub fn heads_to_rows<I: Buffer, O: Buffer>(
    o: I,
    y: O,
    shape: HeadShape,
) -> Result<Launch<I, O>, PlanError> {
    let n = shape.len();
    len("o", &o, n)?;
    len("y", &y, n)?;
    let mut params = vec![Param::In(o), Param::Out(y)];
    params.extend(shape.params(1)?);
    launch("heads_to_rows", config::per_element(n), params)
}

/// `rows_to_heads`: `d_o` `(B·H, T, hd)` += `dy` `(B, T, D)` split into heads; with
/// `accumulate` false, `=` (d_o is not read).
pub fn rows_to_heads<I: Buffer, O: Buffer>(
    dy: I,
    d_o: O,
    shape: HeadShape,
    accumulate: bool,
) -> Result<Launch<I, O>, PlanError> {
    let n = shape.len();
    len("dy", &dy, n)?;
    len("do", &d_o, n)?;
    let mut params = vec![Param::In(dy), Param::Out(d_o)];
    params.extend(shape.params(1)?);
    params.push(Param::I32(i32::from(accumulate)));
    launch("rows_to_heads", config::per_element(n), params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FAMILIES;

    const SHAPE: HeadShape = HeadShape {
        batch: 2,
        tokens: 5,
        heads: 3,
        head_dim: 4,
    };

    #[test]
    fn plans_name_listed_kernels_and_cover_every_element() {
        let n = SHAPE.len(); // 120
        let qkv = vec![0.0f32; 3 * n];
        let (mut q, mut k, mut v) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let out = Heads {
            q: &mut q[..],
            k: &mut k[..],
            v: &mut v[..],
        };
        let l = qkv_to_heads(&qkv[..], None, out, SHAPE).expect("plan");
        assert_eq!(l.params.len(), 9);
        assert!(l.config.grid.0 * l.config.block.0 >= 3 * n as u32);
        assert!(FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel)));
        let mut y = vec![0.0f32; n];
        let l = heads_to_rows(&qkv[..n], &mut y[..], SHAPE).expect("plan");
        assert_eq!(l.params.len(), 6);
        assert!(FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel)));
    }

    #[test]
    fn lengths_are_checked() {
        let n = SHAPE.len();
        let g = vec![0.0f32; n];
        let short = vec![0.0f32; n - 1];
        let mut dqkv = vec![0.0f32; 3 * n];
        let grads = Heads {
            q: &g[..],
            k: &short[..],
            v: &g[..],
        };
        let err = heads_to_qkv(grads, &mut dqkv[..], SHAPE, true).expect_err("short dk");
        assert_eq!(
            err,
            PlanError::Length {
                what: "dk",
                want: n,
                got: n - 1
            }
        );
        let mut d_o = vec![0.0f32; n + 1];
        let err = rows_to_heads(&g[..], &mut d_o[..], SHAPE, true).expect_err("long do");
        assert!(matches!(err, PlanError::Length { what: "do", .. }));
    }
}
