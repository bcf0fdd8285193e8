//! The MLP branch `fc2(gelu(fc1(x)))` on the GPU as one op, so that fc1's bias is added by
//! the GELU kernel instead of being written as bias rows the product reads back, and, under
//! `train.precision = bf16`, so that the GELU writes its output straight in bf16 as fc2's
//! operand (no fp32 `(B, T, 4D)` activation written, read back and converted).
//!
//! Forward over the `B·T` rows, `h (rows, F)` and `y (rows, F)`:
//! - `h = x·W₁ᵀ` (one cuBLAS product, β = 0);
//! - `y = gelu(h + b₁)`: `bias_gelu_forward`, or under bf16 `bias_gelu_forward_bf16`, which
//!   keeps `h + b₁` in bf16 for the backward and writes `y` in bf16;
//! - `out = y·W₂ᵀ + b₂` (fc2 as the `Linear` op runs it: bias rows, then the product), or
//!   inside a block `y·W₂ᵀ` alone, `b₂` left to the residual join's kernel.
//!
//! Backward from `dout (rows, D)`:
//! - `db₂ += Σ dout`, `dW₂ += doutᵀ·y`, `dy = dout·W₂` (overwritten into a scratch buffer);
//! - `dh = dy·gelu'(h + b₁)` and `db₁ += Σ dh` in one kernel (`bias_gelu_backward`, or
//!   `bias_gelu_backward_bf16`, which writes `dh` in bf16 as the products' operand);
//! - `dx += dh·W₁`, `dW₁ += dhᵀ·x`.
//!
//! The same kernels and product plans run in the simulator against the CPU in
//! `fused/cuda_parity/gelu.rs` and `fused/cuda_parity/linear.rs`; the op's numerics are the
//! composition's (`Linear`, GELU, `Linear` on the device) up to where fc1's bias is added
//! (after the product's rounding instead of inside cuBLAS's β = 1 epilogue).

use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;
use std::sync::Arc;

use super::attention::Bias;
use super::linear::{column_sums, held_input, Input};
use super::modules::{input, input_bf16, loaded, output, output_bf16};
use super::product::{to_bf16, Held, Pair, Ptr};
use super::{alloc, alloc_bf16, beta, matmul, wrap, Buf, Matmul};
use crate::device::{MlpParts, Rows};
use deitc_kernels::plan;

/// What fc1's backward differentiates GELU at.
enum Kept {
    /// fp32: fc1's product `h` without its bias (the kernel adds `b₁` again).
    F32 {
        h: Buf<f32>,
        bias: Arc<CachableCudaSlice<f32>>,
    },
    /// bf16: `h + b₁` rounded to bf16.
    Bf16(Buf<u16>),
}

/// `fc2(gelu(fc1(x)))` on `x (B, T, D)`.
pub(super) fn mlp<B: Dim, Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Cuda>>(
    parts: MlpParts<'_, D, F, f32, Cuda>,
    x: Rows<B, Tok, D, f32, Cuda, T>,
) -> Result<Rows<B, Tok, D, f32, Cuda, T>, CudaError> {
    Ok(mlp_op(parts, (x, None), true)?.0)
}

/// The MLP branch, fc2's bias added (`with_bias`: the bias rows, then the product with
/// β = 1) or left to the output's consumer (the residual join) and returned beside it; its
/// input possibly given in bf16 already ([`Input`]).
#[allow(clippy::type_complexity)]
pub(super) fn mlp_op<B: Dim, Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Cuda>>(
    parts: MlpParts<'_, D, F, f32, Cuda>,
    (x, x16): Input<B, Tok, D, T>,
    with_bias: bool,
) -> Result<(Rows<B, Tok, D, f32, Cuda, T>, Option<Bias>), CudaError> {
    let (fc1, fc2) = (parts.fc1, parts.fc2);
    // The product reads rows of D contiguous values.
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let (b, t, _) = *x.shape();
    let rows = b.size() * t.size();
    let mode = matmul(&dev);

    // h = x·W₁ᵀ, every element written (β = 0).
    let first = Pair {
        left: held_input(&dev, &k, x.data(), x16, mode)?,
        right: Held::new(&dev, &k, fc1.weight.data(), mode)?,
        mode,
    };
    let mut h = alloc(&dev, rows * F)?; // (rows, F)
    let mut g = plan::gemm_forward(rows, D, F).map_err(|_| super::invalid())?;
    g.beta = 0.0;
    first.gemm(&dev, &g, None, &mut h)?;

    // y = gelu(h + b₁): fc2's left factor.
    let b1 = fc1.bias.data();
    let (y, kept) = match mode {
        Matmul::Bf16 => {
            // h + b₁ is kept in bf16 only when there is a backward to read it.
            let mut keep = match T::OWNS_TAPE {
                true => Some(alloc_bf16(&dev, rows * F)?),
                false => None,
            };
            let mut y = alloc_bf16(&dev, rows * F)?;
            k.run(plan::bias_gelu_forward_bf16(
                input(&h),
                input(&**b1),
                keep.as_mut().map(output_bf16),
                output_bf16(&mut y),
                F,
            ))?;
            (Held::Bf16(y), keep.map(Kept::Bf16))
        }
        Matmul::F32 | Matmul::Tf32 => {
            let mut y = alloc(&dev, rows * F)?;
            k.run(plan::bias_gelu_forward(
                input(&h),
                Some(input(&**b1)),
                output(&mut y),
                F,
            ))?;
            let bias = b1.clone();
            (Held::Own(y), Some(Kept::F32 { h, bias }))
        }
    };

    // out = y·W₂ᵀ + b₂: the bias rows, then the product added (β = 1).
    let second = Pair {
        left: y,
        right: Held::new(&dev, &k, fc2.weight.data(), mode)?,
        mode,
    };
    let mut out = alloc(&dev, rows * D)?; // (rows, D)
    let mut g = plan::gemm_forward(rows, F, D).map_err(|_| super::invalid())?;
    match with_bias {
        true => k.run(plan::bias_rows(input(&**fc2.bias.data()), output(&mut out)))?,
        false => g.beta = 0.0, // every element written; the consumer adds b₂
    }
    second.gemm(&dev, &g, None, &mut out)?;
    let out = wrap(&dev, (b, t, Const::<D>), out)?;

    if let (true, Some(kept)) = (T::OWNS_TAPE, kept) {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let (w1_g, b1_g) = (fc1.weight.ghost(), fc1.bias.ghost());
        let (w2_g, b2_g) = (fc2.weight.ghost(), fc2.bias.ghost());
        tape.add_backward_op(move |grads| {
            let beta_x = beta(grads.try_alloc_first(&x_g, rows * D, |n| alloc(&dev, n))?); // fc1's dx
            grads.try_alloc_for(&w1_g)?;
            grads.try_alloc_for(&b1_g)?;
            grads.try_alloc_for(&w2_g)?;
            grads.try_alloc_for(&b2_g)?;
            grads.try_alloc_for(&out_g)?;
            // fc2: dy = dout·W₂ (overwritten), db₂ += Σ dout, dW₂ += doutᵀ·y. `d` points at
            // dout's gradient (or its bf16 copy), alive until it is dropped below.
            let dout16 = match mode {
                Matmul::Bf16 => Some(to_bf16(&dev, &k, grads.get_ref(&out_g))?),
                Matmul::F32 | Matmul::Tf32 => None,
            };
            let d = match &dout16 {
                Some(d16) => Ptr::bf16(d16),
                None => Ptr::f32(grads.get_ref(&out_g)),
            };
            let mut dy = alloc(&dev, rows * F)?; // (rows, F)
            let mut g = plan::gemm_backward_input(rows, F, D).map_err(|_| super::invalid())?;
            g.beta = 0.0;
            second.gemm(&dev, &g, Some(d), &mut dy)?;
            {
                let (db2, dout) = grads.mut_and_ref(&b2_g, &out_g);
                column_sums(&k, &dev, dout, D, db2)?;
            }
            let g = plan::gemm_backward_weight(rows, F, D).map_err(|_| super::invalid())?;
            second.gemm(&dev, &g, Some(d), grads.get_mut(&w2_g))?;
            drop((dout16, second));
            grads.drop_non_leaf(&out_g);

            // dh = dy·gelu'(h + b₁) and its column sums for db₁, in one kernel.
            let mut db_parts = alloc(&dev, plan::part_len(rows, F))?; // (parts, F)
            let dh = match &kept {
                Kept::Bf16(keep) => {
                    let mut dh = alloc_bf16(&dev, rows * F)?;
                    k.run(plan::bias_gelu_backward_bf16(
                        input(&dy),
                        input_bf16(keep),
                        output_bf16(&mut dh),
                        output(&mut db_parts),
                        F,
                    ))?;
                    Held::Bf16(dh)
                }
                Kept::F32 { h, bias } => {
                    let mut dh = alloc(&dev, rows * F)?;
                    k.run(plan::bias_gelu_backward(
                        input(&dy),
                        input(h),
                        Some(input(&**bias)),
                        output(&mut dh),
                        Some(output(&mut db_parts)),
                        F,
                        false,
                    ))?;
                    Held::Own(dh)
                }
            };
            drop((dy, kept));
            k.run(plan::column_sum_accumulate(
                input(&db_parts),
                output(grads.get_mut(&b1_g)),
            ))?;

            // fc1: dx = β·dx + dh·W₁ (β = 0 for a new gradient), dW₁ += dhᵀ·x.
            let d = dh.ptr();
            let mut g = plan::gemm_backward_input(rows, D, F).map_err(|_| super::invalid())?;
            g.beta = beta_x;
            first.gemm(&dev, &g, Some(d), grads.get_mut(&x_g))?;
            let g = plan::gemm_backward_weight(rows, D, F).map_err(|_| super::invalid())?;
            first.gemm(&dev, &g, Some(d), grads.get_mut(&w1_g))?;
            Ok(())
        });
    }
    let bias = (!with_bias).then(|| fc2.bias.data().clone());
    Ok((out.put_tape(tape), bias))
}
