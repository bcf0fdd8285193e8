//! Multi-head self-attention with timm's fused `qkv` projection.
//!
//! dfdx's `MultiHeadAttention` has three separate `Linear`s and no dropout, so this is
//! written from two `Linear`s: `qkv` `[3D, D]` (rows q | k | v, heads contiguous inside
//! each), softmax(q kᵀ · head_dim^-0.5) v, heads concatenated back in order, `proj`. The
//! branch itself is the device's kernel, [`Kernels::attention`].

use dfdx::nn::modules::Linear;
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::regularization::{dropout, Site};
use super::{init, linear, Tokens};
use crate::device::{AttentionParts, Kernels};

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

impl<const D: usize, const D3: usize, const H: usize, E: Dtype, Dev: Kernels<E>>
    Attention<D, D3, H, E, Dev>
{
    /// The branch's parameters for [`Kernels::attention`]: qkv, proj, H heads, scale
    /// `head_dim^-0.5`.
    pub fn parts(&self) -> AttentionParts<'_, D, D3, E, Dev> {
        AttentionParts {
            qkv: &self.qkv,
            proj: &self.proj,
            heads: H,
            scale: 1.0 / (Self::HEAD_DIM as f64).sqrt(),
        }
    }

    /// `(B, T, D)` → `(B, T, D)`, with dropout `p` after `proj`, its mask drawn from the
    /// block's `seed` ([`Site::Attention`]).
    pub fn try_forward_with<Tok: Dim, T: Tape<E, Dev>>(
        &self,
        x: Tokens<Tok, D, E, Dev, T>,
        p: f64,
        seed: u64,
    ) -> Result<Tokens<Tok, D, E, Dev, T>, Dev::Err> {
        let y = Dev::attention(self.parts(), x)?; // (B, T, D)
        dropout(y, p, seed, Site::Attention)
    }
}
