//! The patch embedding: a stride-P P×P convolution, written as patchify + `Linear<C·P·P, D>`
//! (dfdx 0.13 has no convolution on stable, and for non-overlapping patches the two are the
//! same map).

use crate::device::Kernels;
use dfdx::nn::modules::Linear;
use dfdx::nn::{Module, ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::{init, linear};

/// `patch_embed.proj` of timm: `[D, C, P, P]` there, `Linear<PD, D>` here with each patch
/// flattened as `(channel, ky, kx)`, so the weight is timm's reshaped to `[D, C·P·P]`.
#[derive(Debug, Clone)]
pub struct PatchEmbed<const P: usize, const PD: usize, const D: usize, E: Dtype, Dev: Storage<E>> {
    pub proj: Linear<PD, D, E, Dev>,
}

impl<const P: usize, const PD: usize, const D: usize, E: Dtype, Dev: Storage<E>>
    PatchEmbed<P, PD, D, E, Dev>
{
    /// Input channels C = PD / P².
    pub const CHANNELS: usize = {
        assert!(P > 0 && PD.is_multiple_of(P * P), "PD must be C·P·P");
        PD / (P * P)
    };
}

impl<const P: usize, const PD: usize, const D: usize, E: Dtype, Dev: Device<E>>
    TensorCollection<E, Dev> for PatchEmbed<P, PD, D, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = PatchEmbed<P, PD, D, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                field!(
                    "proj.weight",
                    proj.weight,
                    init::fan_in_uniform::<PD, _, _, _>()
                ),
                field!(
                    "proj.bias",
                    proj.bias,
                    init::fan_in_uniform::<PD, _, _, _>()
                ),
            ),
            |(weight, bias)| PatchEmbed {
                proj: linear(weight, bias),
            },
        )
    }
}

/// Images NCHW `(B, C, H, W)` (any mix of `usize`/`Const` dims) → patch tokens `(B, N, D)`,
/// N = (H/P)·(W/P), row-major over the patch grid.
///
/// # Panics
/// If C ≠ PD/P² or H, W are not multiples of P.
impl<S, const P: usize, const PD: usize, const D: usize, E, Dev, T> Module<Tensor<S, E, Dev, T>>
    for PatchEmbed<P, PD, D, E, Dev>
where
    S: Shape<Concrete = [usize; 4]>,
    E: Dtype,
    Dev: Kernels<E>,
    T: Tape<E, Dev>,
{
    type Output = Tensor<(usize, usize, Const<D>), E, Dev, T>;
    type Error = Dev::Err;

    fn try_forward(&self, x: Tensor<S, E, Dev, T>) -> Result<Self::Output, Dev::Err> {
        let [b, c, h, w] = x.shape().concrete();
        assert!(
            c == Self::CHANNELS && h % P == 0 && w % P == 0,
            "patch embedding: input (B, C, H, W) = {:?} needs C = {} and H, W multiples of {P}",
            [b, c, h, w],
            Self::CHANNELS,
        );
        let (gh, gw) = (h / P, w / P);
        let x = x.try_reshape_like(&(b, c, gh, P, gw, P))?; // (B, C, gh, P, gw, P)
        let x = x.try_permute::<_, Axes6<0, 2, 4, 1, 3, 5>>()?; // (B, gh, gw, C, P, P)
        let x = x.try_reshape_like(&(b, gh * gw, Const::<PD>))?; // (B, N, C·P·P)
        Dev::linear(&self.proj, x) // (B, N, D)
    }
}
