//! Exact (erf) GELU on the GPU as one op: `cuda/gelu.cu` without a bias, its backward
//! adding `dy·gelu'(x)` into x's gradient (the simulator tests the same plans against the
//! CPU kernel in `fused/cuda_parity/gelu.rs`).
//!
//! Under `train.precision = bf16` the op keeps its input rounded to bf16 for the backward
//! (`gelu_forward_keep_bf16`, `gelu_backward_bf16`) instead of the fp32 input: the MLP's
//! widest activation `(B, T, 4D)` then takes half the memory, as under fp16 autocast.

use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;
use std::sync::Arc;

use super::modules::{input, input_bf16, loaded, output, output_bf16};
use super::{alloc, alloc_bf16, matmul, wrap, Buf, Matmul};
use deitc_kernels::plan;

/// What the backward differentiates at: the fp32 input, or its bf16 rounding.
enum Kept {
    F32(Arc<CachableCudaSlice<f32>>),
    Bf16(Buf<u16>),
}

/// `gelu(x)` for any shape, as rows of its last axis.
pub(super) fn gelu<S: Shape, T: Tape<f32, Cuda>>(
    x: Tensor<S, f32, Cuda, T>,
) -> Result<Tensor<S, f32, Cuda, T>, CudaError> {
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let shape = *x.shape();
    let n = shape.num_elements();
    // Rows of the last axis: the fp32 backward runs one thread per column over parts of rows.
    let cols = shape.concrete().into_iter().last().unwrap_or(1).max(1);
    let mut y = alloc(&dev, n)?;
    let kept = match matmul(&dev) {
        Matmul::Bf16 => {
            let mut keep = alloc_bf16(&dev, n)?;
            k.run(plan::gelu_forward_keep_bf16(
                input(&**x.data()),
                output(&mut y),
                output_bf16(&mut keep),
            ))?;
            Kept::Bf16(keep)
        }
        Matmul::F32 | Matmul::Tf32 => {
            k.run(plan::bias_gelu_forward(
                input(&**x.data()),
                None,
                output(&mut y),
                cols,
            ))?;
            Kept::F32(x.data().clone())
        }
    };
    let out = wrap(&dev, shape, y)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&out_g)?;
            let (dx, dy) = grads.mut_and_ref(&x_g, &out_g);
            match &kept {
                Kept::F32(x) => k.run(plan::bias_gelu_backward(
                    input(dy),
                    input(&**x),
                    None,
                    output(dx),
                    None,
                    cols,
                    true,
                ))?,
                Kept::Bf16(keep) => k.run(plan::gelu_backward_bf16(
                    input(dy),
                    input_bf16(keep),
                    output(dx),
                ))?,
            }
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
