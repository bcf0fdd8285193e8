//! LayerNorm over the last axis of tokens `(B, T, M)` on the GPU as one op: the forward
//! kernel saves μ and 1/σ per row, the backward adds `∂L/∂x` into x's gradient and sums
//! dγ, dβ per part of rows, then the parts in order (`cuda/layer_norm.cu`; the simulator
//! tests the same plans against the CPU kernel in `fused/cuda_parity/layer_norm.rs`).

use cudarc::driver::CudaSlice;
use dfdx::nn::modules::LayerNorm1D;
use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;

use super::modules::{input, loaded, output, output_bf16, In, Loaded, Out};
use super::{alloc, alloc_bf16, wrap, Buf};
use deitc_kernels::plan::{self, Launch, PlanError, RowInputs, RowOutputs};
use std::sync::Arc;

/// LayerNorm of `x (B, T, M)` with `norm`'s γ, β and epsilon.
#[allow(clippy::type_complexity)]
pub(super) fn layer_norm<B: Dim, Tok: Dim, const M: usize, T: Tape<f32, Cuda>>(
    norm: &LayerNorm1D<M, f32, Cuda>,
    x: Tensor<(B, Tok, Const<M>), f32, Cuda, T>,
) -> Result<Tensor<(B, Tok, Const<M>), f32, Cuda, T>, CudaError> {
    Ok(layer_norm_op(norm, x, false)?.0)
}

/// LayerNorm of `x (B, T, M)`, its output written in fp32, or with `bf16_out` only in bf16
/// (returned beside the tensor, whose own values are then never written: it carries the
/// tape and the gradient, and its consumer — the next product, under bf16 — reads the bf16
/// copy).
#[allow(clippy::type_complexity)]
pub(super) fn layer_norm_op<B: Dim, Tok: Dim, const M: usize, T: Tape<f32, Cuda>>(
    norm: &LayerNorm1D<M, f32, Cuda>,
    x: Tensor<(B, Tok, Const<M>), f32, Cuda, T>,
    bf16_out: bool,
) -> Result<(Tensor<(B, Tok, Const<M>), f32, Cuda, T>, Option<Buf<u16>>), CudaError> {
    // The kernels read rows of M contiguous values.
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let shape = *x.shape();
    let rows = shape.num_elements() / M.max(1);
    let (mut y, mut mean, mut rstd) = (
        alloc(&dev, rows * M)?,
        alloc(&dev, rows)?,
        alloc(&dev, rows)?,
    );
    let (gamma, beta, eps) = (norm.gamma.data(), norm.beta.data(), norm.epsilon as f32);
    let mut y16 = bf16_out.then(|| alloc_bf16(&dev, rows * M)).transpose()?;
    // The same launch either way: y's buffer and the kernel that writes it differ.
    let (forward, y_out) = match &mut y16 {
        Some(y16) => (
            plan::layer_norm_forward_bf16 as Forward<'_>,
            output_bf16(y16),
        ),
        None => (plan::layer_norm_forward as Forward<'_>, output(&mut y)),
    };
    let out = RowOutputs {
        y: y_out,
        mean: output(&mut mean),
        rstd: output(&mut rstd),
    };
    let (xi, g, b) = (input(&**x.data()), input(&**gamma), input(&**beta));
    k.run(forward(xi, g, b, out, M, eps))?;
    let out = wrap(&dev, shape, y)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let (gamma_g, beta_g) = (norm.gamma.ghost(), norm.beta.ghost());
        let saved = Saved {
            x: x.data().clone(),
            gamma: norm.gamma.data().clone(),
            cols: M,
            mean,
            rstd,
        };
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&gamma_g)?;
            grads.try_alloc_for(&beta_g)?;
            grads.try_alloc_for(&out_g)?;
            let parts = plan::part_len(rows, M);
            let (mut gp, mut bp) = (alloc(&dev, parts)?, alloc(&dev, parts)?);
            {
                let (dx, dy) = grads.mut_and_ref(&x_g, &out_g);
                backward(&k, &saved, dy, dx, (&mut gp, &mut bp))?;
            }
            k.run(plan::column_sum_accumulate(
                input(&gp),
                output(grads.get_mut(&gamma_g)),
            ))?;
            k.run(plan::column_sum_accumulate(
                input(&bp),
                output(grads.get_mut(&beta_g)),
            ))?;
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok((out.put_tape(tape), y16))
}

/// A LayerNorm forward's plan (`plan::layer_norm_forward` or its bf16-output form).
type Forward<'a> = fn(
    In<'a>,
    In<'a>,
    In<'a>,
    RowOutputs<Out<'a>>,
    usize,
    f32,
) -> Result<Launch<In<'a>, Out<'a>>, PlanError>;

/// What the backward reads: the input, γ, and the forward's per-row μ and 1/σ.
struct Saved {
    x: Arc<CachableCudaSlice<f32>>,
    gamma: Arc<CachableCudaSlice<f32>>,
    cols: usize,
    mean: Buf<f32>,
    rstd: Buf<f32>,
}

/// `dx += ∂L/∂x` and the partial sums of dγ, dβ from the output's gradient `dy`.
fn backward(
    k: &Loaded,
    s: &Saved,
    dy: &CachableCudaSlice<f32>,
    dx: &mut CachableCudaSlice<f32>,
    (gp, bp): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
) -> Result<(), CudaError> {
    let saved = || RowInputs {
        x: input(&*s.x),
        mean: input(&s.mean),
        rstd: input(&s.rstd),
    };
    k.run(plan::layer_norm_backward_input(
        input(dy),
        saved(),
        input(&*s.gamma),
        output(dx),
        true,
    ))?;
    k.run(plan::layer_norm_backward_params(
        input(dy),
        saved(),
        s.cols,
        output(gp),
        output(bp),
    ))
}
