//! Exact (erf) GELU on the GPU as one op: `cuda/gelu.cu` without a bias, its backward
//! adding `dy·gelu'(x)` into x's gradient (the simulator tests the same plans against the
//! CPU kernel in `fused/cuda_parity/gelu.rs`).

use dfdx::prelude::*;

use super::modules::{input, loaded, output};
use super::{alloc, wrap};
use deitc_kernels::plan;

/// `gelu(x)` for any shape, as rows of its last axis.
pub(super) fn gelu<S: Shape, T: Tape<f32, Cuda>>(
    x: Tensor<S, f32, Cuda, T>,
) -> Result<Tensor<S, f32, Cuda, T>, CudaError> {
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let shape = *x.shape();
    let n = shape.num_elements();
    // Rows of the last axis: the backward runs one thread per column over parts of rows.
    let cols = shape.concrete().into_iter().last().unwrap_or(1).max(1);
    let mut y = alloc(&dev, n)?;
    k.run(plan::bias_gelu_forward(
        input(&**x.data()),
        None,
        output(&mut y),
        cols,
    ))?;
    let out = wrap(&dev, shape, y)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let saved = x.data().clone();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&out_g)?;
            let (dx, dy) = grads.mut_and_ref(&x_g, &out_g);
            k.run(plan::bias_gelu_backward(
                input(dy),
                input(&*saved),
                None,
                output(dx),
                None,
                cols,
                true,
            ))?;
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
