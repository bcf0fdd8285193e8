//! A pre-norm block's two residual sublayers on the GPU, `x + s_b·f(LayerNorm(x))`: the
//! LayerNorm and the branch `f` are the device's own kernel methods
//! (`Kernels::layer_norm`, `::attention`, `::mlp`), stochastic depth's scales `s (B,)` are
//! drawn on the device by one `drop_path_scales` launch (no host copy), and the residual
//! join is one op, `residual_add_forward`, whose backward `residual_add_backward` adds `dy`
//! into x's gradient and `s_b·dy` into the branch's (`cuda/residual.cu`; the simulator
//! tests the same plans against the CPU in `fused/cuda_parity/residual.rs`).

use cudarc::driver::CudaSlice;
use deitc_kernels::plan::{self, ResidualGrads};
use dfdx::nn::modules::LayerNorm1D;
use dfdx::prelude::*;

use super::modules::{input, loaded, output, Loaded};
use super::{alloc, wrap};
use crate::device::{compose, AttentionParts, DropPath, Kernels, MlpParts, Rows};

/// Token rows `(B, T, D)` on the GPU with tape `T`.
type Tokens<Tok, const D: usize, T> = Rows<usize, Tok, D, f32, Cuda, T>;

/// `x + s_b·attention(norm(x))`.
#[allow(clippy::type_complexity)]
pub(super) fn attention_sublayer<Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Cuda>>(
    norm: &LayerNorm1D<D, f32, Cuda>,
    parts: AttentionParts<'_, D, D3, f32, Cuda>,
    x: Tokens<Tok, D, T>,
    drop: Option<DropPath>,
) -> Result<Tokens<Tok, D, T>, CudaError> {
    if is_empty(&x) {
        return compose::attention_sublayer(norm, parts, x, drop);
    }
    sublayer(norm, x, drop, |y| {
        <Cuda as Kernels<f32>>::attention(parts, y)
    })
}

/// `x + s_b·mlp(norm(x))`.
pub(super) fn mlp_sublayer<Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Cuda>>(
    norm: &LayerNorm1D<D, f32, Cuda>,
    parts: MlpParts<'_, D, F, f32, Cuda>,
    x: Tokens<Tok, D, T>,
    drop: Option<DropPath>,
) -> Result<Tokens<Tok, D, T>, CudaError> {
    if is_empty(&x) {
        return compose::mlp_sublayer(norm, parts, x, drop);
    }
    sublayer(norm, x, drop, |y| <Cuda as Kernels<f32>>::mlp(parts, y))
}

/// Whether `x (B, T, D)` has no values (nothing to launch: the composition runs instead).
fn is_empty<Tok: Dim, const D: usize, T>(x: &Tokens<Tok, D, T>) -> bool {
    x.shape().num_elements() == 0
}

/// `x + s_b·f(norm(x))`: x's tape runs through the norm and the branch, and the join adds
/// `dy` back into x's gradient.
fn sublayer<Tok: Dim, const D: usize, T: Tape<f32, Cuda>>(
    norm: &LayerNorm1D<D, f32, Cuda>,
    x: Tokens<Tok, D, T>,
    drop: Option<DropPath>,
    f: impl FnOnce(Tokens<Tok, D, T>) -> Result<Tokens<Tok, D, T>, CudaError>,
) -> Result<Tokens<Tok, D, T>, CudaError> {
    // The join reads rows of D contiguous values.
    let (x, tape) = x.try_contiguous()?.split_tape(); // (B, T, D)
    let y = <Cuda as Kernels<f32>>::layer_norm(norm, x.clone().put_tape(tape))?; // (B, T, D)
    residual_add(x, f(y)?, drop) // (B, T, D)
}

/// `x + s_b·h` for tokens `x`, `h (B, T, D)` with `s (B,)` drawn on the device by `drop`
/// (none: 1), as one op. The tapes merge as in dfdx's binary ops (h's first, then x's).
fn residual_add<Tok: Dim, const D: usize, T, R>(
    x: Tokens<Tok, D, R>,
    h: Tokens<Tok, D, T>,
    drop: Option<DropPath>,
) -> Result<Tokens<Tok, D, T>, CudaError>
where
    T: Tape<f32, Cuda> + Merge<R>,
    R: Tape<f32, Cuda>,
{
    let (x, x_tape) = x.try_contiguous()?.split_tape(); // (B, T, D)
    let (h, h_tape) = h.try_contiguous()?.split_tape(); // (B, T, D)
    let mut tape = h_tape.merge(x_tape);
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let shape = *x.shape();
    let per_sample = shape.1.size() * D;
    let scale = drop.map(|d| draw(&k, &dev, d, shape.0)).transpose()?; // (B,)
    let mut y = alloc(&dev, shape.num_elements())?; // (B, T, D)
    k.run(plan::residual_add_forward(
        input(&**x.data()),
        input(&**h.data()),
        scale.as_ref().map(input),
        output(&mut y),
        per_sample,
    ))?;
    let out = wrap(&dev, shape, y)?;
    if T::OWNS_TAPE {
        let (x_g, h_g, out_g) = (x.ghost(), h.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&h_g)?;
            grads.try_alloc_for(&out_g)?;
            let (dx, dh, dy) = grads.muts_and_ref(&x_g, &h_g, &out_g);
            k.run(plan::residual_add_backward(
                input(dy),
                scale.as_ref().map(input),
                ResidualGrads {
                    dx: output(dx),
                    dh: output(dh),
                },
                per_sample,
            ))?;
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Stochastic depth's scales `(batch,)` drawn by `drop` on the device: one launch of
/// `drop_path_scales`, the bits the CPU draws ([`DropPath::scales`]).
fn draw(k: &Loaded, dev: &Cuda, drop: DropPath, batch: usize) -> Result<CudaSlice<f32>, CudaError> {
    let mut scale = alloc(dev, batch)?; // (B,)
    k.run(plan::drop_path_scales(
        drop.seed,
        drop.rate,
        output(&mut scale),
    ))?;
    Ok(scale)
}
