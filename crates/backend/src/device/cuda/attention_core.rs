//! The attention's heads and core, `qkv (B, T, 3D)` → `softmax(scale·q·kᵀ)·v (B·H, T, hd)`,
//! on the GPU as one op that keeps only q, k and v for the backward and computes the
//! probabilities again there, as fused (flash) attention does: the scores and probabilities `(B·H, T, T)`, a block's largest
//! activations, are never kept across the step. Recomputing costs one batched product and
//! one softmax per block in the backward (about 1–2% of a DeiT step's arithmetic); the
//! memory it frees is `B·H·T²` values per block (bf16: 60 MB per block for DeiT-S at batch
//! 128).
//!
//! Forward, for `n = B·H` heads of `(T, hd)`:
//! - q, k, v split out of `qkv` with the qkv `Linear`'s bias added (`qkv_to_heads`; the
//!   product wrote `qkv` without it), in bf16 under bf16 (`qkv_to_heads_bf16`: the heads are
//!   only product operands, so no fp32 copy is written or converted);
//! - `s = q·kᵀ` (one batched cuBLAS product into a scratch buffer, β = 0);
//! - `p = softmax(scale·s)` (`softmax_forward`, or `softmax_forward_bf16` under bf16, which
//!   writes `p` in bf16 as the next product's operand);
//! - `o = p·v`; `s` and `p` are freed.
//!
//! Backward from `do (n, T, hd)`: `s` and `p` again (the same products and kernel on the
//! same operands: the same bits), then `dv += pᵀ·do`, `dp = do·vᵀ` (into `s`'s buffer),
//! `ds = scale·p ⊙ (dp − Σ dp ⊙ p)`, `dq = ds·k` and `dk = dsᵀ·q` (dq, dk, dv into scratch
//! buffers), then `dqkv += dq | dk | dv` in one launch (`heads_to_qkv`); every product in
//! the device's matmul mode. The plans are the ones the CPU checks (`plan::batched_*`, the
//! softmax kernels in the simulator, `fused/cuda_parity/softmax.rs`).

use cudarc::driver::{CudaSlice, DeviceSlice};
use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;
use std::sync::Arc;

use super::modules::{input, input_bf16, loaded, output, output_bf16, Loaded};
use super::product::{to_bf16, Held, Pair, Ptr};
use super::{alloc, alloc_bf16, matmul, wrap, Matmul};
use crate::device::Rows;
use deitc_kernels::plan::{self, BatchShape, HeadShape, Heads};

/// Heads `(B·H, T, hd)`: one `(T, hd)` matrix per sample and head.
type HeadRows<Tok, T> = Tensor<(usize, Tok, usize), f32, Cuda, T>;

/// `softmax(scale·q·kᵀ)·v` `(B·H, T, hd)` for the q, k, v of `qkv (B, T, 3D)` plus `bias`
/// `(3D,)` (when the qkv product left it out); the output carries qkv's tape.
pub(super) fn split_attention<B: Dim, Tok: Dim, const D3: usize, T: Tape<f32, Cuda>>(
    qkv: Rows<B, Tok, D3, f32, Cuda, T>,
    bias: Option<Arc<CachableCudaSlice<f32>>>,
    shape: HeadShape,
    scale: f64,
) -> Result<HeadRows<Tok, T>, CudaError> {
    // The split reads qkv's rows contiguous (a no-op for the linear's output).
    let (qkv, mut tape) = qkv.try_contiguous()?.split_tape();
    let dev = qkv.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let mode = matmul(&dev);
    let tokens = qkv.shape().1;
    let (n, t, hd) = (shape.batch * shape.heads, shape.tokens, shape.head_dim);
    let len = shape.len();
    let rows = input(&**qkv.data());
    let b = bias.as_ref().map(|b| input(&**b));
    let [q, kh, v] = match mode {
        Matmul::Bf16 => {
            let mut h = [
                alloc_bf16(&dev, len)?,
                alloc_bf16(&dev, len)?,
                alloc_bf16(&dev, len)?,
            ];
            let [hq, hk, hv] = &mut h;
            let out = Heads {
                q: output_bf16(hq),
                k: output_bf16(hk),
                v: output_bf16(hv),
            };
            k.run(plan::qkv_to_heads_bf16(rows, b, out, shape))?;
            h.map(Held::Bf16)
        }
        Matmul::F32 | Matmul::Tf32 => {
            let mut h = [alloc(&dev, len)?, alloc(&dev, len)?, alloc(&dev, len)?];
            let [hq, hk, hv] = &mut h;
            let out = Heads {
                q: output(hq),
                k: output(hk),
                v: output(hv),
            };
            k.run(plan::qkv_to_heads(rows, b, out, shape))?;
            h.map(Held::Own)
        }
    };
    let scores = BatchShape {
        count: n,
        m: t,
        k: hd,
        n: t,
        transposed: true,
    };
    let values = BatchShape {
        count: n,
        m: t,
        k: t,
        n: hd,
        transposed: false,
    };
    let scale = scale as f32;
    // q and k are the scores' factors; v the values' right factor.
    let qk = Pair {
        left: q,
        right: kh,
        mode,
    };
    let mut s = alloc(&dev, n * t * t)?; // (n, T, T)
    let pv = Pair {
        left: probabilities(&dev, &k, &qk, &scores, scale, &mut s)?,
        right: v,
        mode,
    };
    drop(s);
    let mut o = alloc(&dev, len)?; // (n, T, hd)
    let fwd = plan::batched_forward(&values).map_err(|_| super::invalid())?;
    pv.gemm_batched(&dev, &fwd, None, &mut o)?; // β = 0: every element written
    let Pair { right: vh, .. } = pv; // p is freed; v stays for the backward
    let out = wrap(&dev, (n, tokens, hd), o)?;

    if T::OWNS_TAPE {
        let (qkv_g, o_g) = (qkv.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            // The split is qkv's only reader: its gradient is usually new here, and then
            // written, not added into (no zero fill).
            let first = grads.try_alloc_first(&qkv_g, 3 * len, |n| alloc(&dev, n))?;
            grads.try_alloc_for(&o_g)?;
            // s and p again: the forward's products and kernel on the same operands.
            let mut s = alloc(&dev, n * t * t)?; // (n, T, T): s, then dp
            let pv = Pair {
                left: probabilities(&dev, &k, &qk, &scores, scale, &mut s)?,
                right: vh,
                mode,
            };
            // `d_o` points at do (or its bf16 copy), alive until do is dropped below.
            let do16 = match mode {
                Matmul::Bf16 => Some(to_bf16(&dev, &k, grads.get_ref(&o_g))?),
                Matmul::F32 | Matmul::Tf32 => None,
            };
            let d_o = match &do16 {
                Some(d) => Ptr::bf16(d),
                None => Ptr::f32(grads.get_ref(&o_g)),
            };
            // dv = pᵀ·do; dp = do·vᵀ, overwriting s.
            let mut dv = alloc(&dev, len)?; // (n, T, hd)
            pv.gemm_batched(
                &dev,
                &overwrite(plan::batched_backward_right(&values))?,
                Some(d_o),
                &mut dv,
            )?;
            pv.gemm_batched(
                &dev,
                &overwrite(plan::batched_backward_left(&values))?,
                Some(d_o),
                &mut s,
            )?;
            drop(do16);
            grads.drop_non_leaf(&o_g);

            // ds = scale·p ⊙ (dp − Σ dp ⊙ p), overwritten: under bf16 written in bf16, the
            // operand of the two products below, else in fp32.
            let ds = match &pv.left {
                Held::Bf16(p) => {
                    let mut ds = alloc_bf16(&dev, n * t * t)?; // (n, T, T)
                    k.run(plan::softmax_backward_bf16_out(
                        input_bf16(p),
                        input(&s),
                        output_bf16(&mut ds),
                        t,
                        scale,
                    ))?;
                    Held::Bf16(ds)
                }
                Held::Own(p) => {
                    let mut ds = alloc(&dev, n * t * t)?; // (n, T, T)
                    k.run(plan::softmax_backward(
                        input(p),
                        input(&s),
                        output(&mut ds),
                        t,
                        scale,
                        false,
                    ))?;
                    Held::Own(ds)
                }
                Held::F32(_) => return Err(super::invalid()), // `probabilities` makes none
            };
            drop((pv, s));
            let d_s = ds.ptr();
            // dq = ds·k, dk = dsᵀ·q.
            let (mut dq, mut dk) = (alloc(&dev, len)?, alloc(&dev, len)?); // (n, T, hd)
            qk.gemm_batched(
                &dev,
                &overwrite(plan::batched_backward_left(&scores))?,
                Some(d_s),
                &mut dq,
            )?;
            qk.gemm_batched(
                &dev,
                &overwrite(plan::batched_backward_right(&scores))?,
                Some(d_s),
                &mut dk,
            )?;
            drop(ds);
            // dqkv (+)= dq | dk | dv in qkv's layout.
            let heads = Heads {
                q: input(&dq),
                k: input(&dk),
                v: input(&dv),
            };
            k.run(plan::heads_to_qkv(
                heads,
                output(grads.get_mut(&qkv_g)),
                shape,
                !first,
            ))?;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// A backward product's plan writing its output (β = 0) instead of adding into it: the
/// op's scratch buffers start uninitialised.
fn overwrite(p: Result<plan::Batched, plan::PlanError>) -> Result<plan::Batched, CudaError> {
    let mut p = p.map_err(|_| super::invalid())?;
    p.g.beta = 0.0;
    Ok(p)
}

/// `p = softmax(scale·q·kᵀ)` `(n, T, T)`: the scores `q·kᵀ` written into `s` (β = 0), then
/// the softmax, in bf16 under bf16 (the operand of `p·v`) and fp32 otherwise.
fn probabilities(
    dev: &Cuda,
    k: &Loaded,
    qk: &Pair,
    scores: &BatchShape,
    scale: f32,
    s: &mut CudaSlice<f32>,
) -> Result<Held, CudaError> {
    let fwd = plan::batched_forward(scores).map_err(|_| super::invalid())?;
    qk.gemm_batched(dev, &fwd, None, s)?;
    let (len, cols) = (s.len(), scores.n);
    Ok(match qk.mode {
        Matmul::Bf16 => {
            let mut p = alloc_bf16(dev, len)?;
            k.run(plan::softmax_forward_bf16(
                input(&*s),
                output_bf16(&mut p),
                cols,
                scale,
            ))?;
            Held::Bf16(p)
        }
        Matmul::F32 | Matmul::Tf32 => {
            let mut p = alloc(dev, len)?;
            k.run(plan::softmax_forward(
                input(&*s),
                output(&mut p),
                cols,
                scale,
            ))?;
            Held::Own(p)
        }
    })
}
