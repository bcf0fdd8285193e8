//! The distillation slot of a `Deit`: either nothing (`NoDist`, a plain ViT) or a
//! distillation token at index 1 with its own head (`DistToken`).

use dfdx::nn::modules::Linear;
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::{init, linear};

/// `(dist_token, head_dist)`.
pub type DistParts<'a, const D: usize, const K: usize, E, Dev> =
    (&'a Tensor<Rank3<1, 1, D>, E, Dev>, &'a Linear<D, K, E, Dev>);

/// What a `Deit` needs from its distillation slot.
pub trait DistSlot<const D: usize, const K: usize, E: Dtype, Dev: Device<E>>:
    TensorCollection<E, Dev>
{
    /// Prefix tokens this slot adds after the cls token (0 or 1).
    const TOKENS: usize;

    /// `(dist_token, head_dist)`, when there is a distillation token.
    fn parts(&self) -> Option<DistParts<'_, D, K, E, Dev>>;
}

/// No distillation token: a plain ViT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoDist;

impl<E: Dtype, Dev: Device<E>> TensorCollection<E, Dev> for NoDist {
    type To<E2: Dtype, D2: Device<E2>> = NoDist;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields((), |()| NoDist)
    }
}

impl<const D: usize, const K: usize, E: Dtype, Dev: Device<E>> DistSlot<D, K, E, Dev> for NoDist {
    const TOKENS: usize = 0;

    fn parts(&self) -> Option<DistParts<'_, D, K, E, Dev>> {
        None
    }
}

/// DeiT's distillation token (`dist_token` `[1, 1, D]`) and `head_dist` `[K, D]`.
#[derive(Debug, Clone)]
pub struct DistToken<const D: usize, const K: usize, E: Dtype, Dev: Storage<E>> {
    pub dist_token: Tensor<Rank3<1, 1, D>, E, Dev>,
    pub head_dist: Linear<D, K, E, Dev>,
}

impl<const D: usize, const K: usize, E: Dtype, Dev: Device<E>> TensorCollection<E, Dev>
    for DistToken<D, K, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = DistToken<D, K, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                field!("dist_token", dist_token, init::trunc_normal()),
                field!("head_dist.weight", head_dist.weight, init::trunc_normal()),
                field!("head_dist.bias", head_dist.bias, init::zeros()),
            ),
            |(dist_token, weight, bias)| DistToken {
                dist_token,
                head_dist: linear(weight, bias),
            },
        )
    }
}

impl<const D: usize, const K: usize, E: Dtype, Dev: Device<E>> DistSlot<D, K, E, Dev>
    for DistToken<D, K, E, Dev>
{
    const TOKENS: usize = 1;

    fn parts(&self) -> Option<DistParts<'_, D, K, E, Dev>> {
        Some((&self.dist_token, &self.head_dist))
    }
}
