//! The attention's core `softmax(scale·q·kᵀ)·v` on the GPU as one op that keeps only q, k
//! and v for the backward and computes the probabilities again there, as fused (flash)
//! attention does: the scores and probabilities `(B·H, T, T)`, a block's largest
//! activations, are never kept across the step. Recomputing costs one batched product and
//! one softmax per block in the backward (about 1–2% of a DeiT step's arithmetic); the
//! memory it frees is `B·H·T²` values per block (bf16: 60 MB per block for DeiT-S at batch
//! 128).
//!
//! Forward, for `n = B·H` heads of `(T, hd)`:
//! - `s = q·kᵀ` (one batched cuBLAS product into a scratch buffer, β = 0);
//! - `p = softmax(scale·s)` (`softmax_forward`, or `softmax_forward_bf16` under bf16, which
//!   writes `p` in bf16 as the next product's operand);
//! - `o = p·v`; `s` and `p` are freed.
//!
//! Backward from `do (n, T, hd)`: `s` and `p` again (the same products and kernel on the
//! same operands: the same bits), then `dv += pᵀ·do`, `dp = do·vᵀ` (into `s`'s buffer),
//! `ds = scale·p ⊙ (dp − Σ dp ⊙ p)`, `dq += ds·k` and `dk += dsᵀ·q`, every product in the
//! device's matmul mode. The plans are the ones the CPU checks (`plan::batched_*`, the
//! softmax kernels in the simulator, `fused/cuda_parity/softmax.rs`).

use cudarc::driver::{CudaSlice, DeviceSlice};
use dfdx::prelude::*;

use super::modules::{input, input_bf16, loaded, output, output_bf16, Loaded};
use super::product::{to_bf16, Held, Pair, Ptr};
use super::{alloc, alloc_bf16, matmul, wrap, Matmul};
use deitc_kernels::plan::{self, BatchShape};

/// Heads `(B·H, T, hd)`: one `(T, hd)` matrix per sample and head.
type HeadRows<Tok, T> = Tensor<(usize, Tok, usize), f32, Cuda, T>;

/// `softmax(scale·q·kᵀ)·v` over heads `q`, `k`, `v (B·H, T, hd)`; their tapes merge.
pub(super) fn attention_core<Tok: Dim, T>(
    [q, kh, v]: [HeadRows<Tok, T>; 3],
    scale: f64,
) -> Result<HeadRows<Tok, T>, CudaError>
where
    T: Tape<f32, Cuda> + Merge<T>,
{
    let (q, q_tape) = q.try_contiguous()?.split_tape();
    let (kh, k_tape) = kh.try_contiguous()?.split_tape();
    let (v, v_tape) = v.try_contiguous()?.split_tape();
    if kh.shape() != q.shape() || v.shape() != q.shape() {
        return Err(super::invalid());
    }
    let mut tape = q_tape.merge(k_tape).merge(v_tape);
    let shape = *q.shape();
    let (n, t, hd) = (shape.0, shape.1.size(), shape.2);
    let dev = q.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let mode = matmul(&dev);
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
    // q and k are the scores' factors; v the values' right factor (bf16 copies under bf16).
    let qk = Pair {
        left: Held::new(&dev, &k, q.data(), mode)?,
        right: Held::new(&dev, &k, kh.data(), mode)?,
        mode,
    };
    let vh = Held::new(&dev, &k, v.data(), mode)?;

    let mut s = alloc(&dev, n * t * t)?; // (n, T, T)
    let pv = Pair {
        left: probabilities(&dev, &k, &qk, &scores, scale, &mut s)?,
        right: vh,
        mode,
    };
    drop(s);
    let mut o = alloc(&dev, n * t * hd)?; // (n, T, hd)
    let fwd = plan::batched_forward(&values).map_err(|_| super::invalid())?;
    pv.gemm_batched(&dev, &fwd, None, &mut o)?; // β = 0: every element written
    let Pair { right: vh, .. } = pv; // p is freed; v stays for the backward
    let out = wrap(&dev, shape, o)?;

    if T::OWNS_TAPE {
        let (q_g, k_g, v_g, o_g) = (q.ghost(), kh.ghost(), v.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            for g in [&q_g, &k_g, &v_g, &o_g] {
                grads.try_alloc_for(g)?;
            }
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
            // dv += pᵀ·do; dp = do·vᵀ, overwriting s.
            let right = plan::batched_backward_right(&values).map_err(|_| super::invalid())?;
            pv.gemm_batched(&dev, &right, Some(d_o), grads.get_mut(&v_g))?;
            let mut left = plan::batched_backward_left(&values).map_err(|_| super::invalid())?;
            left.g.beta = 0.0;
            pv.gemm_batched(&dev, &left, Some(d_o), &mut s)?;
            drop(do16);
            grads.drop_non_leaf(&o_g);

            // ds = scale·p ⊙ (dp − Σ dp ⊙ p), overwritten.
            let mut ds = alloc(&dev, n * t * t)?; // (n, T, T)
            match &pv.left {
                Held::Bf16(p) => k.run(plan::softmax_backward_bf16(
                    input_bf16(p),
                    input(&s),
                    output(&mut ds),
                    t,
                    scale,
                    false,
                ))?,
                Held::F32(p) => k.run(plan::softmax_backward(
                    input(&**p),
                    input(&s),
                    output(&mut ds),
                    t,
                    scale,
                    false,
                ))?,
            }
            drop((pv, s));
            let ds16 = match mode {
                Matmul::Bf16 => Some(to_bf16(&dev, &k, &ds)?),
                Matmul::F32 | Matmul::Tf32 => None,
            };
            let d_s = ds16.as_ref().map_or(Ptr::f32(&ds), Ptr::bf16);
            // dq += ds·k, dk += dsᵀ·q.
            let left = plan::batched_backward_left(&scores).map_err(|_| super::invalid())?;
            qk.gemm_batched(&dev, &left, Some(d_s), grads.get_mut(&q_g))?;
            let right = plan::batched_backward_right(&scores).map_err(|_| super::invalid())?;
            qk.gemm_batched(&dev, &right, Some(d_s), grads.get_mut(&k_g))?;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
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
            Held::F32(wrap(dev, (len,), p)?.data().clone())
        }
    })
}
