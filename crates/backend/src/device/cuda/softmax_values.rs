//! Under `train.precision = bf16`, the attention's `softmax(scale·s)·v` as one op, so that
//! the probabilities `(B·H, T, T)` — the largest activation of a block — are stored once, in
//! bf16: the softmax writes them in bf16 (`softmax_forward_bf16`), the batched product reads
//! them there, and the backward reads them there too (`softmax_backward_bf16`). Separate
//! softmax and product ops would keep an fp32 copy for the softmax's backward and a bf16
//! copy for the product's.
//!
//! Backward from `do (B·H, T, hd)`: `dp = do·vᵀ` (overwritten into a scratch buffer),
//! `dv += pᵀ·do`, then `ds += scale·p ⊙ (dp − Σ dp ⊙ p)`, all on bf16 operands with fp32
//! accumulation (`plan::batched_*`, the kernels tested in the simulator).

use dfdx::prelude::*;

use super::modules::{input, input_bf16, loaded, output, output_bf16};
use super::product::{to_bf16, Held, Pair, Ptr};
use super::{alloc, alloc_bf16, wrap, Matmul};
use deitc_kernels::plan::{self, BatchShape};

/// `softmax(scale·scores)·v` for scores `(n, T, T)` and `v (n, T, hd)` (`s` their batched
/// product's shape, `out` the result's), in bf16 operands.
pub(super) fn softmax_values<SS, SV, SO, T, R>(
    scores: Tensor<SS, f32, Cuda, T>,
    v: Tensor<SV, f32, Cuda, R>,
    scale: f64,
    s: BatchShape,
    out: SO,
) -> Result<Tensor<SO, f32, Cuda, T>, CudaError>
where
    SS: Shape,
    SV: Shape,
    SO: Shape,
    T: Tape<f32, Cuda> + Merge<R>,
    R: Tape<f32, Cuda>,
{
    let (sp, sv, so) = s.sizes();
    let fits = |n: usize, per: usize| n == per.saturating_mul(s.count);
    let (scores, s_tape) = scores.try_contiguous()?.split_tape();
    let (v, v_tape) = v.try_contiguous()?.split_tape();
    if !fits(scores.shape().num_elements(), sp)
        || !fits(v.shape().num_elements(), sv)
        || !fits(out.num_elements(), so)
        || s.transposed
    {
        return Err(super::invalid());
    }
    let mut tape = s_tape.merge(v_tape);
    let dev = scores.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let (cols, scale) = (s.k, scale as f32);
    let mut p = alloc_bf16(&dev, scores.shape().num_elements())?;
    k.run(plan::softmax_forward_bf16(
        input(&**scores.data()),
        output_bf16(&mut p),
        cols,
        scale,
    ))?;
    // The product's factors: p and v in bf16 (p is also what the softmax's backward reads).
    let saved = Pair {
        left: Held::Bf16(p),
        right: Held::Bf16(to_bf16(&dev, &k, &**v.data())?),
        mode: Matmul::Bf16,
    };
    let mut o = alloc(&dev, out.num_elements())?;
    let fwd = plan::batched_forward(&s).map_err(|_| super::invalid())?;
    saved.gemm_batched(&dev, &fwd, None, &mut o)?; // β = 0: every element written
    let out = wrap(&dev, out, o)?;
    if T::OWNS_TAPE {
        let (s_g, v_g, out_g) = (scores.ghost(), v.ghost(), out.ghost());
        let n_scores = scores.shape().num_elements();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&s_g)?;
            grads.try_alloc_for(&v_g)?;
            grads.try_alloc_for(&out_g)?;
            let do16 = to_bf16(&dev, &k, grads.get_ref(&out_g))?;
            let d_o = Some(Ptr::bf16(&do16));
            // dp = do·vᵀ, overwritten (β = 0) into a scratch buffer.
            let mut dp = alloc(&dev, n_scores)?;
            let mut left = plan::batched_backward_left(&s).map_err(|_| super::invalid())?;
            left.g.beta = 0.0;
            saved.gemm_batched(&dev, &left, d_o, &mut dp)?;
            let right = plan::batched_backward_right(&s).map_err(|_| super::invalid())?;
            saved.gemm_batched(&dev, &right, d_o, grads.get_mut(&v_g))?;
            let Held::Bf16(p) = &saved.left else {
                return Err(super::invalid());
            };
            k.run(plan::softmax_backward_bf16(
                input_bf16(p),
                input(&dp),
                output(grads.get_mut(&s_g)),
                cols,
                scale,
                true,
            ))?;
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
