//! The transformer MLP: `fc1` → exact (erf) GELU → dropout → `fc2` → dropout.
//!
//! The GELU is exact (erf), with an exact gradient ([`Kernels::gelu`]).

use dfdx::nn::modules::Linear;
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::regularization::{dropout, Site};
use super::{init, linear, Tokens};
use crate::device::{Kernels, MlpParts};

/// `blocks.i.mlp` of timm: `fc1` `[F, D]`, `fc2` `[D, F]`.
#[derive(Debug, Clone)]
pub struct Mlp<const D: usize, const F: usize, E: Dtype, Dev: Storage<E>> {
    pub fc1: Linear<D, F, E, Dev>,
    pub fc2: Linear<F, D, E, Dev>,
}

impl<const D: usize, const F: usize, E: Dtype, Dev: Device<E>> TensorCollection<E, Dev>
    for Mlp<D, F, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = Mlp<D, F, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                field!("fc1.weight", fc1.weight, init::trunc_normal()),
                field!("fc1.bias", fc1.bias, init::zeros()),
                field!("fc2.weight", fc2.weight, init::trunc_normal()),
                field!("fc2.bias", fc2.bias, init::zeros()),
            ),
            |(w1, b1, w2, b2)| Mlp {
                fc1: linear(w1, b1),
                fc2: linear(w2, b2),
            },
        )
    }
}

impl<const D: usize, const F: usize, E: Dtype, Dev: Kernels<E>> Mlp<D, F, E, Dev> {
    /// The branch's parameters for [`Kernels::mlp`].
    pub fn parts(&self) -> MlpParts<'_, D, F, E, Dev> {
        MlpParts {
            fc1: &self.fc1,
            fc2: &self.fc2,
        }
    }

    /// `(B, T, D)` → `(B, T, D)`, with dropout `p` after the GELU and after `fc2`, their
    /// masks drawn from the block's `seed` ([`Site::MlpHidden`], [`Site::MlpOut`]).
    pub fn try_forward_with<Tok: Dim, T: Tape<E, Dev>>(
        &self,
        x: Tokens<Tok, D, E, Dev, T>,
        p: f64,
        seed: u64,
    ) -> Result<Tokens<Tok, D, E, Dev, T>, Dev::Err> {
        if p <= 0.0 {
            return Dev::mlp(self.parts(), x); // (B, T, D)
        }
        let h = Dev::gelu(Dev::linear(&self.fc1, x)?)?; // (B, T, F)
        let h = dropout(h, p, seed, Site::MlpHidden)?; // (B, T, F)
        let y = Dev::linear(&self.fc2, h)?; // (B, T, D)
        dropout(y, p, seed, Site::MlpOut)
    }
}
