//! The attention branch on the GPU: `qkv` and `proj` through the device's `linear`, the
//! heads split from qkv and merged back by `cuda/attention.cu` (one launch each way, each
//! an op with its own backward), and between them `softmax(scale·q·kᵀ)·v` as one op that
//! recomputes the probabilities in its backward ([`attention_core`]; bf16 operands under
//! `train.precision = bf16`). The simulator tests the head layout's plans against dfdx's
//! CPU ops running [`compose::attention`](crate::device::compose::attention)'s slices and
//! permutes in `fused/cuda_parity/attention.rs`.
//!
//! Tape: q carries qkv's tape (and the split's backward op); k and v start empty ones that
//! merge into q's in the core op, as in `compose::attention`. The split's backward
//! runs after both products' (its op is older), and adds dq, dk and dv into qkv's gradient
//! in one launch.

use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;
use std::sync::Arc;

use super::attention_core::split_attention;
use super::linear::{linear_bias_deferred, Input};
use super::modules::{input, loaded, output, Loaded};
use super::softmax_values::softmax_values;
use super::{alloc, batched, matmul, wrap, Matmul};
use crate::device::composed::{composed, Op};
use crate::device::{AttentionParts, Kernels, Rows};
use deitc_kernels::plan::{self, BatchShape, HeadShape, Heads};

/// A `Linear`'s bias `(O,)` left to the kernel that reads its output.
pub(super) type Bias = Arc<CachableCudaSlice<f32>>;

/// Heads `(B·H, T, hd)`: one `(T, hd)` matrix per sample and head.
type HeadRows<Tok, T> = Tensor<(usize, Tok, usize), f32, Cuda, T>;

/// `proj(softmax(q·kᵀ·scale)·v)` on `x (B, T, D)`.
#[allow(clippy::type_complexity)]
pub(super) fn attention<B: Dim, Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Cuda>>(
    parts: AttentionParts<'_, D, D3, f32, Cuda>,
    x: Rows<B, Tok, D, f32, Cuda, T>,
) -> Result<Rows<B, Tok, D, f32, Cuda, T>, CudaError> {
    Ok(attention_op(parts, (x, None), true)?.0)
}

/// The attention branch, its output projection's bias added (`with_bias`) or left to the
/// output's consumer (the residual join) and returned beside the output; its input possibly
/// given in bf16 already ([`Input`]).
#[allow(clippy::type_complexity)]
pub(super) fn attention_op<
    B: Dim,
    Tok: Dim,
    const D: usize,
    const D3: usize,
    T: Tape<f32, Cuda>,
>(
    parts: AttentionParts<'_, D, D3, f32, Cuda>,
    (x, x16): Input<B, Tok, D, T>,
    with_bias: bool,
) -> Result<(Rows<B, Tok, D, f32, Cuda, T>, Option<Bias>), CudaError> {
    let heads = parts.heads;
    if D3 != 3 * D || heads == 0 || !D.is_multiple_of(heads) {
        return Err(super::invalid());
    }
    // The qkv bias is added by the split as it reads the rows (unless the `Linear` op is sent
    // back to its composition, which adds it itself).
    let fold = !composed(Op::Linear);
    let qkv = match (fold, x16) {
        (true, x16) => linear_bias_deferred(parts.qkv, (x, x16))?, // (B, T, 3D), no bias
        (false, None) => <Cuda as Kernels<f32>>::linear(parts.qkv, x)?,
        (false, Some(_)) => return Err(super::invalid()), // the composition reads x's values
    };
    let bias = fold.then(|| parts.qkv.bias.data().clone()); // (3D,)
    let (b, s, _) = *qkv.shape();
    let shape = HeadShape {
        batch: b.size(),
        tokens: s.size(),
        heads,
        head_dim: D / heads,
    };
    let o = if composed(Op::AttentionCore) {
        let [q, k, v] = split_heads(qkv, bias, shape)?; // (B·H, T, hd) each
        let (bh, t, hd) = (shape.batch * heads, shape.tokens, shape.head_dim);
        stored_core([q, k, v], parts.scale, (bh, t, hd), s)?
    } else {
        split_attention(qkv, bias, shape, parts.scale)? // (B·H, T, hd)
    };
    let merged = merge_heads::<B, Tok, D, T>(o, b, shape)?; // (B, T, D)
    if with_bias || !fold {
        return Ok((<Cuda as Kernels<f32>>::linear(parts.proj, merged)?, None)); // (B, T, D)
    }
    let h = linear_bias_deferred(parts.proj, (merged, None))?; // (B, T, D), no bias
    Ok((h, Some(parts.proj.bias.data().clone())))
}

/// `softmax(scale·q·kᵀ)·v` as separate ops that keep the probabilities for the backward:
/// the two batched products ([`batched`], in the device's matmul mode; kᵀ read as the
/// transposed operand, no copy) and the fused softmax, or under bf16 the softmax and `p·v`
/// as one op storing the probabilities once, in bf16 ([`softmax_values`]). What
/// `attention_core` replaces, kept for `DEITC_CUDA_COMPOSED=attention_core`.
fn stored_core<Tok: Dim, T: Tape<f32, Cuda> + Merge<T>>(
    [q, k, v]: [HeadRows<Tok, T>; 3],
    scale: f64,
    (bh, t, hd): (usize, usize, usize),
    s: Tok,
) -> Result<HeadRows<Tok, T>, CudaError> {
    let scores_shape = BatchShape {
        count: bh,
        m: t,
        k: hd,
        n: t,
        transposed: true,
    };
    let scores = batched::product(q, k, scores_shape, (bh, s, s))?; // (B·H, T, T)
    let values_shape = BatchShape {
        count: bh,
        m: t,
        k: t,
        n: hd,
        transposed: false,
    };
    match matmul(v.device()) {
        Matmul::Bf16 if !composed(Op::Softmax) => {
            softmax_values(scores, v, scale, values_shape, (bh, s, hd)) // (B·H, T, hd)
        }
        Matmul::F32 | Matmul::Tf32 | Matmul::Bf16 => {
            let attn = <Cuda as Kernels<f32>>::scaled_softmax(scores, scale)?; // (B·H, T, T)
            batched::product(attn, v, values_shape, (bh, s, hd)) // (B·H, T, hd)
        }
    }
}

/// q, k, v `(B·H, T, hd)` from `qkv (B, T, 3D)` (plus `bias (3D,)` when given) in one
/// launch; q carries the tape (with
/// the backward op adding all three gradients into qkv's), k and v empty ones.
fn split_heads<B: Dim, Tok: Dim, const D3: usize, T: Tape<f32, Cuda>>(
    qkv: Rows<B, Tok, D3, f32, Cuda, T>,
    bias: Option<Bias>,
    shape: HeadShape,
) -> Result<[HeadRows<Tok, T>; 3], CudaError> {
    // The kernel reads qkv's rows contiguous (a no-op for the linear's output).
    let (qkv, mut tape) = qkv.try_contiguous()?.split_tape();
    let dev = qkv.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let n = shape.len();
    let (mut hq, mut hk, mut hv) = (alloc(&dev, n)?, alloc(&dev, n)?, alloc(&dev, n)?);
    let out = Heads {
        q: output(&mut hq),
        k: output(&mut hk),
        v: output(&mut hv),
    };
    let b = bias.as_ref().map(|b| input(&**b));
    k.run(plan::qkv_to_heads(input(&**qkv.data()), b, out, shape))?;
    let tokens = qkv.shape().1;
    let dims = (shape.batch * shape.heads, tokens, shape.head_dim); // (B·H, T, hd)
    let (q, kh, v) = (
        wrap(&dev, dims, hq)?,
        wrap(&dev, dims, hk)?,
        wrap(&dev, dims, hv)?,
    );
    if T::OWNS_TAPE {
        // qkv as `(B, T, 3D)` with the heads' shape type, so that one `many_and_ref` lends
        // its gradient with theirs (a contiguous reshape is a view: same id, same gradient).
        let rows =
            qkv.try_reshape_like(&(shape.batch, tokens, 3 * shape.heads * shape.head_dim))?;
        // Lent mutably: qkv's gradient, and dq and dk, which are only read.
        let lent = vec![rows.ghost(), q.ghost(), kh.ghost()];
        let v_g = v.ghost();
        tape.add_backward_op(move |grads| {
            // qkv's gradient is written, not added into, when this is its first writer.
            let first = grads.try_alloc_first(&lent[0], 3 * shape.len(), |n| alloc(&dev, n))?;
            for g in &lent[1..] {
                grads.try_alloc_for(g)?;
            }
            grads.try_alloc_for(&v_g)?;
            let (mut muts, dv) = grads.many_and_ref(&lent, &v_g);
            let [dqkv, dq, dk] = &mut muts[..] else {
                return Err(super::invalid());
            };
            split_backward(&k, [&**dq, &**dk, dv], dqkv, shape, !first)?;
            // q, k and v's gradients are read: free them (not qkv's, `lent[0]`).
            for g in &lent[1..] {
                grads.drop_non_leaf(g);
            }
            grads.drop_non_leaf(&v_g);
            Ok(())
        });
    }
    Ok([q.put_tape(tape), kh.retaped(), v.retaped()])
}

/// `dqkv += dq | dk | dv` in qkv's layout (`=` unless `accumulate`), one launch.
fn split_backward(
    k: &Loaded,
    [dq, dk, dv]: [&CachableCudaSlice<f32>; 3],
    dqkv: &mut CachableCudaSlice<f32>,
    shape: HeadShape,
    accumulate: bool,
) -> Result<(), CudaError> {
    let heads = Heads {
        q: input(dq),
        k: input(dk),
        v: input(dv),
    };
    k.run(plan::heads_to_qkv(heads, output(dqkv), shape, accumulate))
}

/// The heads of `o (B·H, T, hd)` merged into rows `(B, T, D)` in one launch; the backward
/// adds the rows' gradient, split into heads, into o's.
fn merge_heads<B: Dim, Tok: Dim, const D: usize, T: Tape<f32, Cuda>>(
    o: HeadRows<Tok, T>,
    b: B,
    shape: HeadShape,
) -> Result<Rows<B, Tok, D, f32, Cuda, T>, CudaError> {
    let (o, mut tape) = o.try_contiguous()?.split_tape();
    let dev = o.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let mut y = alloc(&dev, shape.len())?; // (B, T, D)
    k.run(plan::heads_to_rows(
        input(&**o.data()),
        output(&mut y),
        shape,
    ))?;
    let out = wrap(&dev, (b, o.shape().1, Const::<D>), y)?;
    if T::OWNS_TAPE {
        let (o_g, out_g) = (o.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            // o's gradient is written, not added into, when this is its first writer.
            let first = grads.try_alloc_first(&o_g, shape.len(), |n| alloc(&dev, n))?;
            grads.try_alloc_for(&out_g)?;
            let (d_o, dy) = grads.mut_and_ref(&o_g, &out_g);
            k.run(plan::rows_to_heads(input(dy), output(d_o), shape, !first))?;
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
