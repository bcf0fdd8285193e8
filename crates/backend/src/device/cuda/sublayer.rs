//! A pre-norm block's two residual sublayers on the GPU, `x + s_b·f(LayerNorm(x))`: the
//! LayerNorm and the branch `f` are the device's own ops (`Kernels::layer_norm`, and the
//! fused attention and MLP ops with their last `Linear`'s bias left to the join, which adds
//! it as it reads the branch: no bias rows written and read back), stochastic depth's scales `s (B,)` are
//! drawn on the device by one `drop_path_scales` launch (no host copy), and the residual
//! join is one op, `residual_add_forward`, whose backward `residual_add_backward` adds `dy`
//! into x's gradient and `s_b·dy` into the branch's (`cuda/residual.cu`; the simulator
//! tests the same plans against the CPU in `fused/cuda_parity/residual.rs`).

use deitc_kernels::plan::{self, ResidualGrads};
use dfdx::nn::modules::LayerNorm1D;
use dfdx::prelude::*;

use super::attention::{self, Bias};
use super::linear::Input;
use super::modules::{input, loaded, output, output_bf16, In, Loaded, Out};
use super::{alloc, alloc_bf16, layer_norm, matmul, mlp, wrap, Buf, Matmul};
use crate::device::composed::{composed, Op};
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
    sublayer(norm, x, drop, |y| attention_branch(parts, (y, None)))
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
    sublayer(norm, x, drop, |y| mlp_branch(parts, (y, None)))
}

/// A branch's output `h (B, T, D)`, and the bias of its last `Linear` when that op left it
/// to the join (which adds it as it reads h: no bias rows written and read back).
type Branch<Tok, const D: usize, T> = (Tokens<Tok, D, T>, Option<Bias>);

/// The attention branch for a join: the fused op with its projection's bias deferred, or the
/// device's `attention` (with the bias) where it or the `Linear` runs composed.
#[allow(clippy::type_complexity)]
fn attention_branch<Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Cuda>>(
    parts: AttentionParts<'_, D, D3, f32, Cuda>,
    (y, y16): Input<usize, Tok, D, T>,
) -> Result<Branch<Tok, D, T>, CudaError> {
    if composed(Op::Attention) || composed(Op::Linear) {
        if y16.is_some() {
            return Err(super::invalid()); // the composition reads y's values
        }
        return Ok((<Cuda as Kernels<f32>>::attention(parts, y)?, None));
    }
    attention::attention_op(parts, (y, y16), false)
}

/// The MLP branch for a join: the fused op with fc2's bias deferred, or the device's `mlp`.
fn mlp_branch<Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Cuda>>(
    parts: MlpParts<'_, D, F, f32, Cuda>,
    (y, y16): Input<usize, Tok, D, T>,
) -> Result<Branch<Tok, D, T>, CudaError> {
    if composed(Op::Mlp) {
        if y16.is_some() {
            return Err(super::invalid()); // the composition reads y's values
        }
        return Ok((<Cuda as Kernels<f32>>::mlp(parts, y)?, None));
    }
    mlp::mlp_op(parts, (y, y16), false)
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
    f: impl FnOnce(Tokens<Tok, D, T>) -> Result<Branch<Tok, D, T>, CudaError>,
) -> Result<Tokens<Tok, D, T>, CudaError> {
    // The join reads rows of D contiguous values.
    let (x, tape) = x.try_contiguous()?.split_tape(); // (B, T, D)
    let y = <Cuda as Kernels<f32>>::layer_norm(norm, x.clone().put_tape(tape))?; // (B, T, D)
    residual_add(x, f(y)?, drop) // (B, T, D)
}

/// `x + s_b·(h + b)` for tokens `x`, `h (B, T, D)` with `s (B,)` drawn on the device by
/// `drop` (none: 1) and the branch's deferred bias `b (D,)` (none: 0), as one op. The tapes
/// merge as in dfdx's binary ops (h's first, then x's). h's gradient is the gradient of
/// `h + b` (the branch's `Linear` sums it into b's).
fn residual_add<Tok: Dim, const D: usize, T, R>(
    x: Tokens<Tok, D, R>,
    (h, bias): Branch<Tok, D, T>,
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
        (input(&**h.data()), bias.as_ref().map(|b| input(&**b))),
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
fn draw(k: &Loaded, dev: &Cuda, drop: DropPath, batch: usize) -> Result<Buf<f32>, CudaError> {
    let mut scale = alloc(dev, batch)?; // (B,)
    k.run(plan::drop_path_scales(
        drop.seed,
        drop.rate,
        output(&mut scale),
    ))?;
    Ok(scale)
}

/// A pre-norm block: the attention sublayer with its residual join fused into the MLP's
/// LayerNorm (`residual_layer_norm_forward` / `_backward`: one row kernel each way instead
/// of the join's element-wise kernel and the LayerNorm's row kernels), then the MLP and its
/// join.
#[allow(clippy::type_complexity)]
pub(super) fn block<
    Tok: Dim,
    const D: usize,
    const D3: usize,
    const F: usize,
    T: Tape<f32, Cuda>,
>(
    norms: [&LayerNorm1D<D, f32, Cuda>; 2],
    (attention, mlp): (
        AttentionParts<'_, D, D3, f32, Cuda>,
        MlpParts<'_, D, F, f32, Cuda>,
    ),
    x: Tokens<Tok, D, T>,
    drops: [Option<DropPath>; 2],
) -> Result<Tokens<Tok, D, T>, CudaError> {
    if is_empty(&x) {
        return compose::block(norms, (attention, mlp), x, drops);
    }
    let (x0, tape) = x.try_contiguous()?.split_tape(); // (B, T, D)
                                                       // Under bf16, with the branches fused, the two LayerNorms write their outputs only in
                                                       // bf16, the operand of the products that read them (no fp32 copy written and converted).
    let bf16 = matmul(x0.device()) == Matmul::Bf16
        && ![Op::LayerNorm, Op::Attention, Op::Linear, Op::Mlp]
            .into_iter()
            .any(composed);
    let y1 = match bf16 {
        true => layer_norm::layer_norm_op(norms[0], x0.clone().put_tape(tape), true)?,
        false => (
            <Cuda as Kernels<f32>>::layer_norm(norms[0], x0.clone().put_tape(tape))?,
            None,
        ),
    };
    let h1 = attention_branch(attention, y1)?; // (B, T, D), its bias
    let (x1, y2) = residual_norm(x0, h1, drops[0], norms[1], bf16)?; // (B, T, D) each
    let h2 = mlp_branch(mlp, y2)?; // (B, T, D), its bias
    residual_add(x1, h2, drops[1]) // (B, T, D)
}

/// A joined LayerNorm forward's plan (`plan::residual_layer_norm_forward` or its
/// bf16-output form).
type JoinForward<'a> = fn(
    In<'a>,
    (In<'a>, Option<In<'a>>),
    Option<In<'a>>,
    usize,
    Out<'a>,
    In<'a>,
    In<'a>,
    plan::RowOutputs<Out<'a>>,
    usize,
    f32,
) -> Result<plan::Launch<In<'a>, Out<'a>>, plan::PlanError>;

/// `x' = x + s_b·(h + b)` and `y = norm(x')` as one op with two outputs: `x'` (no tape; its
/// gradient is read from its other uses, the next join) and `y` (on h's tape; with
/// `bf16_out`, written only in bf16, returned beside it as in `layer_norm_op`). The backward
/// adds `g = dx' + LN'(dy)` into x's gradient and `s_b·g` into h's, and dγ, dβ.
#[allow(clippy::type_complexity)]
fn residual_norm<Tok: Dim, const D: usize, T: Tape<f32, Cuda>>(
    x: Tokens<Tok, D, NoneTape>,
    (h, bias): Branch<Tok, D, T>,
    drop: Option<DropPath>,
    norm: &LayerNorm1D<D, f32, Cuda>,
    bf16_out: bool,
) -> Result<(Tokens<Tok, D, NoneTape>, Input<usize, Tok, D, T>), CudaError> {
    let x = x.try_contiguous()?; // (B, T, D)
    let (h, mut tape) = h.try_contiguous()?.split_tape(); // (B, T, D)
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let shape = *x.shape();
    let (tokens, n) = (shape.1.size(), shape.num_elements());
    let rows = n / D.max(1);
    let scale = drop.map(|d| draw(&k, &dev, d, shape.0)).transpose()?; // (B,)
    let (mut joined, mut y) = (alloc(&dev, n)?, alloc(&dev, n)?);
    let (mut mean, mut rstd) = (alloc(&dev, rows)?, alloc(&dev, rows)?);
    let hb = (input(&**h.data()), bias.as_ref().map(|b| input(&**b)));
    let (gamma, beta, eps) = (norm.gamma.data(), norm.beta.data(), norm.epsilon as f32);
    let mut y16 = bf16_out.then(|| alloc_bf16(&dev, n)).transpose()?;
    // The same launch either way: y's buffer and the kernel that writes it differ.
    let (forward, y_out) = match &mut y16 {
        Some(y16) => (
            plan::residual_layer_norm_forward_bf16 as JoinForward<'_>,
            output_bf16(y16),
        ),
        None => (
            plan::residual_layer_norm_forward as JoinForward<'_>,
            output(&mut y),
        ),
    };
    let out = plan::RowOutputs {
        y: y_out,
        mean: output(&mut mean),
        rstd: output(&mut rstd),
    };
    k.run(forward(
        input(&**x.data()),
        hb,
        scale.as_ref().map(input),
        tokens,
        output(&mut joined),
        input(&**gamma),
        input(&**beta),
        out,
        D,
        eps,
    ))?;
    let (joined, y) = (wrap(&dev, shape, joined)?, wrap(&dev, shape, y)?);
    if T::OWNS_TAPE {
        // x, h and x' share a shape, so one `many_and_ref` lends their gradients together
        // with y's (x' is lent mutably but only read).
        let lent = vec![x.ghost(), h.ghost(), joined.ghost()];
        let y_g = y.ghost();
        let (gamma_g, beta_g) = (norm.gamma.ghost(), norm.beta.ghost());
        let (x_out, gamma) = (joined.data().clone(), norm.gamma.data().clone());
        tape.add_backward_op(move |grads| {
            for g in &lent {
                grads.try_alloc_for(g)?;
            }
            grads.try_alloc_for(&y_g)?;
            grads.try_alloc_for(&gamma_g)?;
            grads.try_alloc_for(&beta_g)?;
            let parts = plan::part_len(rows, D);
            let (mut gp, mut bp) = (alloc(&dev, parts)?, alloc(&dev, parts)?);
            let saved = || plan::RowInputs {
                x: input(&*x_out),
                mean: input(&mean),
                rstd: input(&rstd),
            };
            {
                let (mut muts, dy) = grads.many_and_ref(&lent, &y_g);
                let [dx, dh, d_joined] = &mut muts[..] else {
                    return Err(super::invalid());
                };
                k.run(plan::layer_norm_backward_params(
                    input(dy),
                    saved(),
                    D,
                    output(&mut gp),
                    output(&mut bp),
                ))?;
                k.run(plan::residual_layer_norm_backward(
                    input(dy),
                    saved(),
                    input(&*gamma),
                    input(&**d_joined),
                    scale.as_ref().map(input),
                    tokens,
                    plan::JoinGrads {
                        dx: output(&mut **dx),
                        dh: output(&mut **dh),
                    },
                ))?;
            }
            k.run(plan::column_sum_accumulate(
                input(&gp),
                output(grads.get_mut(&gamma_g)),
            ))?;
            k.run(plan::column_sum_accumulate(
                input(&bp),
                output(grads.get_mut(&beta_g)),
            ))?;
            grads.drop_non_leaf(&y_g);
            grads.drop_non_leaf(&lent[2]);
            Ok(())
        });
    }
    Ok((joined, (y.put_tape(tape), y16)))
}
