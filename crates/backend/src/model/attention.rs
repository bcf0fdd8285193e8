//! Multi-head self-attention with timm's fused `qkv` projection.
//!
//! dfdx's `MultiHeadAttention` has three separate `Linear`s and no dropout, so this is
//! written from `Linear` and tensor ops: `qkv` `[3D, D]` (rows q | k | v, heads contiguous
//! inside each), softmax(q kᵀ · head_dim^-0.5) v, heads concatenated back in order, `proj`.

use dfdx::nn::modules::Linear;
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::fused::{attention as attention_fused, fused, linear as linear_fused};
use super::regularization::dropout;
use super::{init, linear, Tokens};

/// `blocks.i.attn` of timm. `D3` must be `3 * D` (stable Rust cannot write `{3 * D}` in a
/// type) and `H` must divide `D`.
#[derive(Debug, Clone)]
pub struct Attention<const D: usize, const D3: usize, const H: usize, E: Dtype, Dev: Storage<E>> {
    pub qkv: Linear<D, D3, E, Dev>,
    pub proj: Linear<D, D, E, Dev>,
}

impl<const D: usize, const D3: usize, const H: usize, E: Dtype, Dev: Storage<E>>
    Attention<D, D3, H, E, Dev>
{
    /// Per-head width D / H.
    pub const HEAD_DIM: usize = {
        assert!(D3 == 3 * D, "D3 must be 3·D");
        assert!(H > 0 && D.is_multiple_of(H), "H must divide D");
        D / H
    };
}

impl<const D: usize, const D3: usize, const H: usize, E: Dtype, Dev: Device<E>>
    TensorCollection<E, Dev> for Attention<D, D3, H, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = Attention<D, D3, H, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                field!("qkv.weight", qkv.weight, init::trunc_normal()),
                field!("qkv.bias", qkv.bias, init::zeros()),
                field!("proj.weight", proj.weight, init::trunc_normal()),
                field!("proj.bias", proj.bias, init::zeros()),
            ),
            |(w_qkv, b_qkv, w_proj, b_proj)| Attention {
                qkv: linear(w_qkv, b_qkv),
                proj: linear(w_proj, b_proj),
            },
        )
    }
}

impl<const D: usize, const D3: usize, const H: usize, E: Dtype, Dev: Device<E>>
    Attention<D, D3, H, E, Dev>
{
    /// `(B, T, D)` → `(B, T, D)`, with dropout `p` after `proj`.
    pub fn try_forward_with<Tok: Dim, T: Tape<E, Dev>>(
        &self,
        x: Tokens<Tok, D, E, Dev, T>,
        p: f64,
    ) -> Result<Tokens<Tok, D, E, Dev, T>, Dev::Err> {
        let hd = Self::HEAD_DIM;
        let (b, s, _) = *x.shape();
        let scale = 1.0 / (hd as f64).sqrt();
        let out = if fused::<E, Dev>() && b.size() * s.size() > 0 {
            attention_fused(&self.qkv, &self.proj, x, H, scale as f32)? // (B, T, D)
        } else {
            let qkv = linear_fused(&self.qkv, x)?; // (B, T, 3D)
            linear_fused(&self.proj, Self::heads(qkv, scale)?)? // (B, T, D)
        };
        dropout(out, p)
    }

    /// The attention core from dfdx ops (every device but the CPU with f32): heads split by
    /// slices and permutes, softmax(q kᵀ · scale) v, heads merged back in order. The B·H
    /// heads form one batch axis, so each product is one batched product (on a 4-D
    /// `(B, H, …)` tensor, dfdx runs one batched product per sample).
    #[allow(clippy::type_complexity)]
    fn heads<B: Dim, Tok: Dim, T: Tape<E, Dev>>(
        qkv: Tensor<(B, Tok, Const<D3>), E, Dev, T>,
        scale: f64,
    ) -> Result<Tensor<(B, Tok, Const<D>), E, Dev, T>, Dev::Err> {
        let hd = Self::HEAD_DIM;
        let (b, s, _) = *qkv.shape();
        let bh = b.size() * H;
        // q carries the tape; k and v start empty ones that merge back in the matmuls.
        let (qkv, tape) = qkv.split_tape();
        // Columns `part` of qkv, one `(T, hd)` matrix per (sample, head): `(B·H, T, hd)`.
        let heads = |x: Tensor<(B, Tok, usize), E, Dev, T>| {
            x.try_reshape_like(&(b, s, H, hd))? // (B, T, H, hd)
                .try_permute::<_, Axes4<0, 2, 1, 3>>()? // (B, H, T, hd)
                .try_reshape_like(&(bh, s, hd)) // (B·H, T, hd)
        };
        let q = heads(qkv.clone().put_tape(tape).try_slice((.., .., 0..D))?)?;
        let k = heads(qkv.clone().retaped::<T>().try_slice((.., .., D..2 * D))?)?;
        let v = heads(qkv.retaped::<T>().try_slice((.., .., 2 * D..3 * D))?)?;
        let k = k.try_permute::<_, Axes3<0, 2, 1>>()?; // (B·H, hd, T)
        let scale = E::from_f64(scale).unwrap_or_default();
        let attn = q.try_matmul(k)?.try_mul(scale)?.try_softmax::<Axis<2>>()?; // (B·H, T, T)
        attn.try_matmul(v)? // (B·H, T, hd)
            .try_reshape_like(&(b, H, s, hd))? // (B, H, T, hd)
            .try_permute::<_, Axes4<0, 2, 1, 3>>()? // (B, T, H, hd)
            .try_reshape_like(&(b, s, Const::<D>)) // (B, T, D)
    }
}
