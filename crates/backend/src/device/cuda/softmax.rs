//! The attention softmax with its q·kᵀ scale on the GPU as one op: `cuda/softmax.cu`'s
//! forward saves `p`, its backward adds `scale·p ⊙ (dp − Σ dp·p)` into the scores' gradient
//! (the simulator tests the same plans against the CPU kernel in
//! `fused/cuda_parity/softmax.rs`).

use dfdx::prelude::*;

use super::modules::{input, loaded, output};
use super::{alloc, wrap};
use crate::device::Scores;
use deitc_kernels::plan;

/// `softmax(scale·s)` over the last axis of `s (B·H, T, T)`.
pub(super) fn scaled_softmax<Tok: Dim, T: Tape<f32, Cuda>>(
    s: Scores<Tok, f32, Cuda, T>,
    scale: f64,
) -> Result<Scores<Tok, f32, Cuda, T>, CudaError> {
    let (s, mut tape) = s.try_contiguous()?.split_tape();
    let dev = s.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let shape = *s.shape();
    let cols = shape.2.size();
    let scale = scale as f32;
    let mut p = alloc(&dev, shape.num_elements())?; // (B·H, T, T)
    k.run(plan::softmax_forward(
        input(&**s.data()),
        output(&mut p),
        cols,
        scale,
    ))?;
    let out = wrap(&dev, shape, p)?;
    if T::OWNS_TAPE {
        let (s_g, out_g) = (s.ghost(), out.ghost());
        let p = out.data().clone();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&s_g)?;
            grads.try_alloc_for(&out_g)?;
            let (ds, dp) = grads.mut_and_ref(&s_g, &out_g);
            k.run(plan::softmax_backward(
                input(&*p),
                input(dp),
                output(ds),
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
