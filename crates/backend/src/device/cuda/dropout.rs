//! Dropout on the GPU as one op: `dropout_forward` of `cuda/regularization.cu` draws the
//! mask from the [`Dropout`]'s counters and multiplies in one launch, and the backward
//! `dropout_backward` draws it again and adds `dy ⊙ mask` into x's gradient, so no mask is
//! stored or copied from the host (the simulator tests the same plans against the host
//! draw, [`Dropout::mask`], in `fused/cuda_parity/dropout.rs`).

use deitc_kernels::plan;
use dfdx::prelude::*;

use super::modules::{input, loaded, output};
use super::{alloc, wrap};
use crate::device::{compose, Dropout};

/// `x ⊙ mask` for any shape, element i of the row-major order taking the mask's i-th draw.
pub(super) fn dropout<S: Shape, T: Tape<f32, Cuda>>(
    x: Tensor<S, f32, Cuda, T>,
    drop: Dropout,
) -> Result<Tensor<S, f32, Cuda, T>, CudaError> {
    let n = x.shape().num_elements();
    if n == 0 {
        return compose::dropout(x, Some(drop));
    }
    // Element i of the kernel is element i of the row-major order.
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let shape = *x.shape();
    let mut y = alloc(&dev, n)?; // x's shape, flat
    k.run(plan::dropout_forward(
        input(&**x.data()),
        output(&mut y),
        drop.seed,
        drop.rate,
    ))?;
    let out = wrap(&dev, shape, y)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&out_g)?;
            let (dx, dy) = grads.mut_and_ref(&x_g, &out_g);
            k.run(plan::dropout_backward(
                input(dy),
                output(dx),
                drop.seed,
                drop.rate,
            ))?;
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
