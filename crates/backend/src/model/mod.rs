//! The model phase: DeiT / ViT written from dfdx 0.13 modules and tensor ops, with timm's
//! architecture, names and initialisation, and a loader for timm checkpoints.
//!
//! dfdx needs every parameter shape at compile time, so a model is a type with const
//! generics (see [`Deit`]; aliases [`DistilledDeit`], [`Vit`], [`DeitTiny`], …); a recipe's
//! `model { … }` picks one of a fixed set of such types, and [`Deit::check_ir`] says whether a
//! type fits an IR shape (`qkv_bias = false` has no type: every qkv has a bias).
//!
//! Files: `patch_embed` (the stride-P conv as patchify + `Linear`), `attention` (fused qkv),
//! `mlp`, `block` (pre-norm), `dist` (the optional distillation token), `deit` (the whole model),
//! `regularization` (dropout, stochastic depth), `init` (timm's init), `tensor_file` (a
//! safetensors reader), `load_timm` and `load_error` (timm `state_dict` → model).
//! [`ConvNet`] is a small convolutional network driven the same way; `conv` builds its 3×3
//! convolution (im2col by one gather + matmul) and poolings from dfdx ops.
//! [`regnet`] is timm's RegNetY (the official DeiT teacher, `regnety_160`), eval mode only,
//! with runtime widths: strided, grouped convolutions, squeeze-excitation, folded BatchNorm.

/// One tensor field of a `TensorCollection` impl: `field!("timm.name", path.to.tensor,
/// options)` is `Self::tensor(name, |s| &s.path, |s| &mut s.path, options)`.
macro_rules! field {
    ($name:literal, $($path:ident).+, $options:expr) => {
        Self::tensor($name, |s| &s.$($path).+, |s| &mut s.$($path).+, $options)
    };
}

mod attention;
mod block;
mod conv;
mod convnet;
mod deit;
mod dist;
mod init;
mod load_error;
mod load_timm;
mod mlp;
mod patch_embed;
pub mod regnet;
pub(crate) mod regularization;
mod tensor_file;

pub use attention::Attention;
pub use block::Block;
pub use conv::{
    avg_pool2x2, conv3x3, global_avg_pool, to_channels_first, to_channels_last, Conv3x3,
    FeatureMap, NchwMap, Pooled,
};
pub use convnet::{ConvNet, ConvStage};
pub use deit::{Deit, Logits, TrainLogits};
pub use dist::{DistParts, DistSlot, DistToken, NoDist};
pub use load_error::LoadError;
pub use mlp::Mlp;
pub use patch_embed::PatchEmbed;
pub use regularization::Regularization;
pub use tensor_file::{TensorFile, TensorInfo};

/// LayerNorm epsilon of every DeiT norm (timm's `partial(nn.LayerNorm, eps=1e-6)`; dfdx's
/// default is 1e-5).
pub const LN_EPS: f64 = 1e-6;

/// A dfdx `Linear` from its two tensors (for `TensorCollection` builders).
pub(crate) fn linear<const I: usize, const O: usize, E: dfdx::prelude::Dtype, Dev>(
    weight: dfdx::prelude::Tensor<dfdx::prelude::Rank2<O, I>, E, Dev>,
    bias: dfdx::prelude::Tensor<dfdx::prelude::Rank1<O>, E, Dev>,
) -> dfdx::nn::modules::Linear<I, O, E, Dev>
where
    Dev: dfdx::prelude::Storage<E>,
{
    dfdx::nn::modules::Linear { weight, bias }
}

/// A DeiT LayerNorm (eps 1e-6) from its two tensors.
pub(crate) fn layer_norm<const M: usize, E: dfdx::prelude::Dtype, Dev>(
    gamma: dfdx::prelude::Tensor<dfdx::prelude::Rank1<M>, E, Dev>,
    beta: dfdx::prelude::Tensor<dfdx::prelude::Rank1<M>, E, Dev>,
) -> dfdx::nn::modules::LayerNorm1D<M, E, Dev>
where
    Dev: dfdx::prelude::Storage<E>,
{
    dfdx::nn::modules::LayerNorm1D {
        gamma,
        beta,
        epsilon: LN_EPS,
    }
}

/// Token activations `(B, T, D)`: runtime batch, token axis `Tok` (`Const<T>` in a model).
pub type Tokens<Tok, const D: usize, E, Dev, Tp = dfdx::prelude::NoneTape> =
    dfdx::prelude::Tensor<(usize, Tok, dfdx::prelude::Const<D>), E, Dev, Tp>;

/// A DeiT with a distillation token (`[cls, dist, patches…]`).
pub type DistilledDeit<
    const P: usize,
    const PD: usize,
    const D: usize,
    const D3: usize,
    const H: usize,
    const F: usize,
    const T: usize,
    const K: usize,
    const L: usize,
    E,
    Dev,
> = Deit<P, PD, D, D3, H, F, T, K, L, DistToken<D, K, E, Dev>, E, Dev>;

/// A plain ViT / DeiT without distillation token (`[cls, patches…]`).
pub type Vit<
    const P: usize,
    const PD: usize,
    const D: usize,
    const D3: usize,
    const H: usize,
    const F: usize,
    const T: usize,
    const K: usize,
    const L: usize,
    E,
    Dev,
> = Deit<P, PD, D, D3, H, F, T, K, L, NoDist, E, Dev>;

/// `deit_tiny_patch16_224`.
pub type DeitTiny<E, Dev> = Vit<16, 768, 192, 576, 3, 768, 197, 1000, 12, E, Dev>;
/// `deit_small_patch16_224`.
pub type DeitSmall<E, Dev> = Vit<16, 768, 384, 1152, 6, 1536, 197, 1000, 12, E, Dev>;
/// `deit_base_patch16_224`.
pub type DeitBase<E, Dev> = Vit<16, 768, 768, 2304, 12, 3072, 197, 1000, 12, E, Dev>;
/// `deit_tiny_distilled_patch16_224`.
pub type DeitTinyDistilled<E, Dev> =
    DistilledDeit<16, 768, 192, 576, 3, 768, 198, 1000, 12, E, Dev>;
/// `deit_small_distilled_patch16_224`.
pub type DeitSmallDistilled<E, Dev> =
    DistilledDeit<16, 768, 384, 1152, 6, 1536, 198, 1000, 12, E, Dev>;
/// `deit_base_distilled_patch16_224`.
pub type DeitBaseDistilled<E, Dev> =
    DistilledDeit<16, 768, 768, 2304, 12, 3072, 198, 1000, 12, E, Dev>;
