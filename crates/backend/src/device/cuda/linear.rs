//! `Linear` on tokens on the GPU as one op: the bias rows (`cuda/linear.cu`), then one cuBLAS
//! product over all `B·T` rows; the backward is two products and a column sum of the output's
//! gradient, all added into the gradients (`deitc_kernels::plan::gemm_*` are the products'
//! arguments, checked on the CPU against the row-major products they stand for).
//!
//! `train.precision` picks the products' operands and arithmetic ([`Matmul`]): fp32 (strict),
//! tf32 (fp32 operands, TF32 tensor cores), or bf16 operands with fp32 accumulation and fp32
//! outputs. Under bf16 the op keeps the bf16 copies of `x` and `W` for the backward instead
//! of the fp32 ones, so the saved activation takes half the memory.

use cudarc::driver::{DevicePtr, DeviceSlice};
use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;
use std::sync::Arc;

use super::modules::{input, loaded, output, Loaded};
use super::product::{to_bf16, Held, Pair, Ptr};
use super::{alloc, beta, matmul, wrap, Buf, Matmul};
use crate::device::Rows;
use deitc_kernels::plan;

/// `lin` on `x (B, T, I)` → `(B, T, O)`: `x·Wᵀ + b` over the `B·T` rows.
#[allow(clippy::type_complexity)]
pub(super) fn linear<B: Dim, Tok: Dim, const I: usize, const O: usize, T: Tape<f32, Cuda>>(
    lin: &Linear<I, O, f32, Cuda>,
    x: Rows<B, Tok, I, f32, Cuda, T>,
) -> Result<Rows<B, Tok, O, f32, Cuda, T>, CudaError> {
    linear_op(lin, (x, None), true)
}

/// `lin` on `x (B, T, I)` with the bias left to the output's consumer: the forward is
/// `x·Wᵀ` alone (the consumer's kernel adds `b` as it reads the rows, saving the bias rows'
/// write and the product's read of them), the backward still adds `Σ dy` into b's gradient.
/// `x16`, under bf16, is `x` in bf16 already (its producer wrote only that: `x`'s values
/// are not read).
#[allow(clippy::type_complexity)]
pub(super) fn linear_bias_deferred<
    B: Dim,
    Tok: Dim,
    const I: usize,
    const O: usize,
    T: Tape<f32, Cuda>,
>(
    lin: &Linear<I, O, f32, Cuda>,
    x: Input<B, Tok, I, T>,
) -> Result<Rows<B, Tok, O, f32, Cuda, T>, CudaError> {
    linear_op(lin, x, false)
}

/// A product's input `(B, T, I)`, and under bf16 possibly its bf16 copy already made (its
/// producer's only output: the tensor then carries the tape and the gradient, not values).
pub(super) type Input<B, Tok, const I: usize, T> =
    (Rows<B, Tok, I, f32, Cuda, T>, Option<Buf<u16>>);

/// The left factor kept for a product on `x`: its bf16 copy when given (only under bf16),
/// else the tensor's data as `mode` keeps it.
pub(super) fn held_input(
    dev: &Cuda,
    k: &Loaded,
    x: &Arc<CachableCudaSlice<f32>>,
    x16: Option<Buf<u16>>,
    mode: Matmul,
) -> Result<Held, CudaError> {
    match (x16, mode) {
        (Some(x16), Matmul::Bf16) => Ok(Held::Bf16(x16)),
        (Some(_), Matmul::F32 | Matmul::Tf32) => Err(super::invalid()),
        (None, _) => Held::new(dev, k, x, mode),
    }
}

/// The `Linear` op, its forward adding the bias (the bias rows, then the product with β = 1)
/// or not (`with_bias` false: the product alone, β = 0).
#[allow(clippy::type_complexity)]
fn linear_op<B: Dim, Tok: Dim, const I: usize, const O: usize, T: Tape<f32, Cuda>>(
    lin: &Linear<I, O, f32, Cuda>,
    (x, x16): Input<B, Tok, I, T>,
    with_bias: bool,
) -> Result<Rows<B, Tok, O, f32, Cuda, T>, CudaError> {
    // The product reads rows of I contiguous values.
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let (b, t, _) = *x.shape();
    let rows = b.size() * t.size();
    let mode = matmul(&dev);
    let mut y = alloc(&dev, rows * O)?; // (B·T, O)
    if with_bias {
        k.run(plan::bias_rows(input(&**lin.bias.data()), output(&mut y)))?;
    }
    // x is the products' left factor, W the right one (y = x·Wᵀ).
    let saved = Pair {
        left: held_input(&dev, &k, x.data(), x16, mode)?,
        right: Held::new(&dev, &k, lin.weight.data(), mode)?,
        mode,
    };
    let mut g = plan::gemm_forward(rows, I, O).map_err(|_| super::invalid())?;
    if !with_bias {
        g.beta = 0.0; // every element written
    }
    saved.gemm(&dev, &g, None, &mut y)?;
    let out = wrap(&dev, (b, t, Const::<O>), y)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let (w_g, b_g) = (lin.weight.ghost(), lin.bias.ghost());
        tape.add_backward_op(move |grads| {
            let beta_x = beta(grads.try_alloc_first(&x_g, rows * I, |n| alloc(&dev, n))?); // dx
            grads.try_alloc_for(&w_g)?;
            grads.try_alloc_for(&b_g)?;
            grads.try_alloc_for(&out_g)?;
            {
                let (db, dy) = grads.mut_and_ref(&b_g, &out_g);
                column_sums(&k, &dev, dy, O, db)?;
            }
            let dy_bf16 = match mode {
                Matmul::Bf16 => Some(to_bf16(&dev, &k, grads.get_ref(&out_g))?),
                Matmul::F32 | Matmul::Tf32 => None,
            };
            let mut g = plan::gemm_backward_input(rows, I, O).map_err(|_| super::invalid())?;
            g.beta = beta_x; // 0 for a new gradient: overwritten, not added into
            {
                let (dx, dy) = grads.mut_and_ref(&x_g, &out_g);
                let dy = dy_bf16.as_ref().map_or(Ptr::f32(dy), Ptr::bf16);
                saved.gemm(&dev, &g, Some(dy), dx)?;
            }
            let g = plan::gemm_backward_weight(rows, I, O).map_err(|_| super::invalid())?;
            {
                let (dw, dy) = grads.mut_and_ref(&w_g, &out_g);
                let dy = dy_bf16.as_ref().map_or(Ptr::f32(dy), Ptr::bf16);
                saved.gemm(&dev, &g, Some(dy), dw)?;
            }
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// `db += Σ_rows dy` for `dy (rows, cols)`: per-part sums, then the parts in order.
pub(super) fn column_sums<Dy, Db>(
    k: &Loaded,
    dev: &Cuda,
    dy: &Dy,
    cols: usize,
    db: &mut Db,
) -> Result<(), CudaError>
where
    Dy: DevicePtr<f32> + DeviceSlice<f32>,
    Db: DevicePtr<f32> + DeviceSlice<f32>,
{
    let rows = dy.len() / cols.max(1);
    let mut parts = alloc(dev, plan::part_len(rows, cols))?; // (parts, cols)
    k.run(plan::column_sum_partial(
        input(dy),
        output(&mut parts),
        cols,
    ))?;
    k.run(plan::column_sum_accumulate(input(&parts), output(db)))
}
