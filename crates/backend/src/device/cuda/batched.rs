//! A batched product `C = A·op(B)` on the GPU as one op: one `cublasGemmStridedBatchedEx`
//! forward, two backward adding into the operands' gradients (`plan::batched_*`, checked on
//! the CPU against the row-major products). The attention's `q·kᵀ` and `p·v` run through it
//! under `train.precision = bf16`, so that they too take bf16 operands (fp32 accumulation
//! and output) and keep bf16 copies for the backward.

use dfdx::prelude::*;

use super::modules::loaded;
use super::product::{to_bf16, Held, Pair, Ptr};
use super::{alloc, matmul, wrap, Matmul};
use deitc_kernels::plan::{self, BatchShape};

/// `a·op(b)` over `s.count` matrices, shaped `out`; `a`'s tape and `b`'s merge as in dfdx's
/// binary ops.
pub(super) fn product<SA, SB, SC, T, R>(
    a: Tensor<SA, f32, Cuda, T>,
    b: Tensor<SB, f32, Cuda, R>,
    s: BatchShape,
    out: SC,
) -> Result<Tensor<SC, f32, Cuda, T>, CudaError>
where
    SA: Shape,
    SB: Shape,
    SC: Shape,
    T: Tape<f32, Cuda> + Merge<R>,
    R: Tape<f32, Cuda>,
{
    let (sa, sb, sc) = s.sizes();
    let fits = |n: usize, per: usize| n == per.saturating_mul(s.count);
    let (a, a_tape) = a.try_contiguous()?.split_tape();
    let (b, b_tape) = b.try_contiguous()?.split_tape();
    if !fits(a.shape().num_elements(), sa)
        || !fits(b.shape().num_elements(), sb)
        || !fits(out.num_elements(), sc)
    {
        return Err(super::invalid());
    }
    let mut tape = a_tape.merge(b_tape);
    let dev = a.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let mode = matmul(&dev);
    let saved = Pair {
        left: Held::new(&dev, &k, a.data(), mode)?,
        right: Held::new(&dev, &k, b.data(), mode)?,
        mode,
    };
    let mut c = alloc(&dev, out.num_elements())?;
    let p = plan::batched_forward(&s).map_err(|_| super::invalid())?;
    // β = 0: the forward writes every element of `c`.
    saved.gemm_batched(&dev, &p, None, &mut c)?;
    let out = wrap(&dev, out, c)?;
    if T::OWNS_TAPE {
        let (a_g, b_g, out_g) = (a.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&a_g)?;
            grads.try_alloc_for(&b_g)?;
            grads.try_alloc_for(&out_g)?;
            let dy_bf16 = match mode {
                Matmul::Bf16 => Some(to_bf16(&dev, &k, grads.get_ref(&out_g))?),
                Matmul::F32 | Matmul::Tf32 => None,
            };
            let p = plan::batched_backward_left(&s).map_err(|_| super::invalid())?;
            {
                let (da, dy) = grads.mut_and_ref(&a_g, &out_g);
                let dy = dy_bf16.as_ref().map_or(Ptr::f32(dy), Ptr::bf16);
                saved.gemm_batched(&dev, &p, Some(dy), da)?;
            }
            let p = plan::batched_backward_right(&s).map_err(|_| super::invalid())?;
            {
                let (db, dy) = grads.mut_and_ref(&b_g, &out_g);
                let dy = dy_bf16.as_ref().map_or(Ptr::f32(dy), Ptr::bf16);
                saved.gemm_batched(&dev, &p, Some(dy), db)?;
            }
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
