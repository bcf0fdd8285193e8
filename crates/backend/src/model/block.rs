//! A pre-norm transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`, each
//! branch under stochastic depth.

use dfdx::nn::modules::LayerNorm1D;
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::regularization::drop_path;
use super::{init, layer_norm, Attention, Mlp, Tokens};
use crate::device::{DropPath, Kernels};

/// `blocks.i` of timm.
#[derive(Debug, Clone)]
pub struct Block<
    const D: usize,
    const D3: usize,
    const H: usize,
    const F: usize,
    E: Dtype,
    Dev: Storage<E>,
> {
    pub norm1: LayerNorm1D<D, E, Dev>,
    pub attn: Attention<D, D3, H, E, Dev>,
    pub norm2: LayerNorm1D<D, E, Dev>,
    pub mlp: Mlp<D, F, E, Dev>,
}

impl<const D: usize, const D3: usize, const H: usize, const F: usize, E: Dtype, Dev: Device<E>>
    TensorCollection<E, Dev> for Block<D, D3, H, F, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = Block<D, D3, H, F, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                field!("norm1.weight", norm1.gamma, init::ones()),
                field!("norm1.bias", norm1.beta, init::zeros()),
                Self::module("attn", |s| &s.attn, |s| &mut s.attn),
                field!("norm2.weight", norm2.gamma, init::ones()),
                field!("norm2.bias", norm2.beta, init::zeros()),
                Self::module("mlp", |s| &s.mlp, |s| &mut s.mlp),
            ),
            |(g1, b1, attn, g2, b2, mlp)| Block {
                norm1: layer_norm(g1, b1),
                attn,
                norm2: layer_norm(g2, b2),
                mlp,
            },
        )
    }
}

impl<
        const D: usize,
        const D3: usize,
        const H: usize,
        const F: usize,
        E: Dtype,
        Dev: Kernels<E>,
    > Block<D, D3, H, F, E, Dev>
{
    /// `(B, T, D)` → `(B, T, D)` with dropout `p` and stochastic-depth rate `drop`; the
    /// two branches draw their stochastic-depth masks from `seed` and `seed + 1`, and each
    /// dropout site its mask from its own stream of `seed`
    /// ([`super::regularization::dropout_seed`]), on every device the same bits.
    pub fn try_forward_with<Tok: Dim, T: Tape<E, Dev>>(
        &self,
        x: Tokens<Tok, D, E, Dev, T>,
        p: f64,
        drop: f64,
        seed: u64,
    ) -> Result<Tokens<Tok, D, E, Dev, T>, Dev::Err> {
        let (seed1, seed2) = (seed, seed.wrapping_add(1));
        if p <= 0.0 {
            // Each sublayer as one kernel where the device fuses it (or the whole block); the
            // device draws the stochastic-depth scales.
            let drops = [DropPath::new(drop, seed1), DropPath::new(drop, seed2)];
            let parts = (self.attn.parts(), self.mlp.parts());
            return Dev::block([&self.norm1, &self.norm2], parts, x, drops); // (B, T, D)
        }
        let (x, tape) = x.split_tape();
        let y = Dev::layer_norm(&self.norm1, x.clone().put_tape(tape))?; // (B, T, D)
        let y = self.attn.try_forward_with(y, p, seed)?; // (B, T, D)
        let x = drop_path(y, drop, seed1)?.try_add(x)?; // (B, T, D)
        let (x, tape) = x.split_tape();
        let y = Dev::layer_norm(&self.norm2, x.clone().put_tape(tape))?; // (B, T, D)
        let y = self.mlp.try_forward_with(y, p, seed)?; // (B, T, D)
        drop_path(y, drop, seed2)?.try_add(x) // (B, T, D)
    }
}
