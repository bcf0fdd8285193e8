//! dfdx's `Cpu` as a [`Backend`]: in `f32` every kernel method runs its fused CPU kernel
//! ([`crate::fused`]), and the optimizer step runs on host copies of the parameters. Where
//! a kernel cannot take a shape (an empty batch, a zero width) the composition runs instead,
//! which gives the same values.

use dfdx::nn::modules::{LayerNorm1D, Linear};
use dfdx::nn::TensorCollection;
use dfdx::prelude::*;

use super::{compose, AttentionParts, Backend, DropPath, Kernels, MlpParts, Rows};
use crate::fused::{self, AttentionBranch, MlpBranch};
use crate::train::optimizer::{Optimizer, StepInfo};

impl Kernels<f32> for Cpu {
    fn layer_norm<B: Dim, Tok: Dim, const M: usize, T: Tape<f32, Self>>(
        norm: &LayerNorm1D<M, f32, Self>,
        x: Rows<B, Tok, M, f32, Self, T>,
    ) -> Result<Rows<B, Tok, M, f32, Self, T>, CpuError> {
        match M {
            0 => compose::layer_norm(norm, x),
            _ => fused::layer_norm(norm, x),
        }
    }

    fn linear<B: Dim, Tok: Dim, const I: usize, const O: usize, T: Tape<f32, Self>>(
        lin: &Linear<I, O, f32, Self>,
        x: Rows<B, Tok, I, f32, Self, T>,
    ) -> Result<Rows<B, Tok, O, f32, Self, T>, CpuError> {
        if I == 0 || O == 0 {
            return compose::linear(lin, x);
        }
        fused::linear(lin, x)
    }

    fn gelu<S: Shape, T: Tape<f32, Self>>(
        x: Tensor<S, f32, Self, T>,
    ) -> Result<Tensor<S, f32, Self, T>, CpuError> {
        fused::gelu(x)
    }

    fn scale_samples<Tok: Dim, const M: usize, T: Tape<f32, Self>>(
        x: Rows<usize, Tok, M, f32, Self, T>,
        scales: Vec<f32>,
    ) -> Result<Rows<usize, Tok, M, f32, Self, T>, CpuError> {
        fused::scale_samples(x, scales)
    }

    fn attention<B: Dim, Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Self>>(
        parts: AttentionParts<'_, D, D3, f32, Self>,
        x: Rows<B, Tok, D, f32, Self, T>,
    ) -> Result<Rows<B, Tok, D, f32, Self, T>, CpuError> {
        let (b, s, _) = *x.shape();
        if b.size() * s.size() == 0 {
            return compose::attention(parts, x);
        }
        fused::attention(parts.qkv, parts.proj, x, parts.heads, parts.scale as f32)
    }

    fn mlp<B: Dim, Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Self>>(
        parts: MlpParts<'_, D, F, f32, Self>,
        x: Rows<B, Tok, D, f32, Self, T>,
    ) -> Result<Rows<B, Tok, D, f32, Self, T>, CpuError> {
        match F {
            0 => compose::mlp(parts, x),
            _ => fused::mlp(parts.fc1, parts.fc2, x),
        }
    }

    fn attention_sublayer<Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Self>>(
        norm: &LayerNorm1D<D, f32, Self>,
        parts: AttentionParts<'_, D, D3, f32, Self>,
        x: Rows<usize, Tok, D, f32, Self, T>,
        drop: Option<DropPath>,
    ) -> Result<Rows<usize, Tok, D, f32, Self, T>, CpuError> {
        let (b, s, _) = *x.shape();
        if b * s.size() * D == 0 {
            return compose::attention_sublayer(norm, parts, x, drop);
        }
        let branch = AttentionBranch {
            qkv: parts.qkv,
            proj: parts.proj,
            heads: parts.heads,
            scale: parts.scale as f32,
            batch: b,
        };
        fused::residual(norm, x, drop.map(|d| d.scales(b)), branch)
    }

    fn mlp_sublayer<Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Self>>(
        norm: &LayerNorm1D<D, f32, Self>,
        parts: MlpParts<'_, D, F, f32, Self>,
        x: Rows<usize, Tok, D, f32, Self, T>,
        drop: Option<DropPath>,
    ) -> Result<Rows<usize, Tok, D, f32, Self, T>, CpuError> {
        let (b, s, _) = *x.shape();
        if b * s.size() * D * F == 0 {
            return compose::mlp_sublayer(norm, parts, x, drop);
        }
        let branch = MlpBranch {
            fc1: parts.fc1,
            fc2: parts.fc2,
        };
        fused::residual(norm, x, drop.map(|d| d.scales(b)), branch)
    }
}

/// In `f64` every kernel is its composition (the reference path of the `f64` tests).
impl Kernels<f64> for Cpu {}

impl Backend for Cpu {
    const NAME: &'static str = "cpu";

    fn open(seed: u64) -> Result<Self, String> {
        Ok(Cpu::seed_from_u64(seed))
    }

    fn optimizer_step<M: TensorCollection<f32, Self>>(
        opt: &mut Optimizer<Self>,
        model: &mut M,
        grads: &mut Gradients<f32, Self>,
        lr: f64,
    ) -> Result<StepInfo, CpuError> {
        opt.step_on_host(model, grads, lr)
    }
}
