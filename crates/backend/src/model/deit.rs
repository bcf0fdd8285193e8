//! The whole vision transformer: patch embedding, cls (and dist) tokens, position embedding,
//! pre-norm blocks, final norm and heads.

use std::path::Path;

use dfdx::nn::modules::{LayerNorm1D, Linear, Repeated};
use dfdx::nn::{Module, ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::load_timm::load_strict;
use super::regularization::{dropout, Site};
use super::{
    init, layer_norm, linear, Block, DistSlot, LoadError, PatchEmbed, Regularization, TensorFile,
    Tokens,
};
use crate::device::Kernels;
use crate::ir;

/// A DeiT / ViT with every parameter shape fixed at compile time.
///
/// * `P` patch side; `PD` = C·P·P (the patch dimension, C = `PD / P²` input channels)
/// * `D` embed dim; `D3` = 3·D (the fused qkv width); `H` heads; `F` MLP hidden width
/// * `T` tokens = patches + prefix tokens (cls, plus dist when distilled); the image side is
///   `P·√(T − prefix)`
/// * `K` classes; `L` depth
/// * `Dist`: [`NoDist`](super::NoDist) (plain ViT) or [`DistToken`](super::DistToken)
///
/// Tensors are visited under timm's `state_dict` names (`cls_token`, `blocks.0.attn.qkv.weight`,
/// `head_dist.bias`, …); `BuildModule::build` initialises them as timm does (trunc-normal
/// 0.02 Linear weights and tokens, zero biases, LayerNorm 1/0, PyTorch's Conv2d default for the
/// patch embedding). Forward passes: `Module::try_forward` is eval mode
/// (`(head(cls) + head_dist(dist)) / 2`, or `head(cls)`); [`Deit::try_forward_train`] is
/// train mode (both heads, dropout and stochastic depth).
#[derive(Debug, Clone)]
pub struct Deit<
    const P: usize,
    const PD: usize,
    const D: usize,
    const D3: usize,
    const H: usize,
    const F: usize,
    const T: usize,
    const K: usize,
    const L: usize,
    Dist,
    E: Dtype,
    Dev: Storage<E>,
> {
    pub patch_embed: PatchEmbed<P, PD, D, E, Dev>,
    pub cls_token: Tensor<Rank3<1, 1, D>, E, Dev>,
    /// `dist_token` and `head_dist`, or nothing.
    pub dist: Dist,
    pub pos_embed: Tensor<Rank3<1, T, D>, E, Dev>,
    pub blocks: Repeated<Block<D, D3, H, F, E, Dev>, L>,
    pub norm: LayerNorm1D<D, E, Dev>,
    pub head: Linear<D, K, E, Dev>,
}

/// Logits `(B, K)`.
pub type Logits<const K: usize, E, Dev, Tp = NoneTape> = Tensor<(usize, Const<K>), E, Dev, Tp>;

/// Train-mode output. `cls` carries the tape of the whole network; `dist` carries only its
/// head's part, so build the loss from both (the tapes merge) or `head_dist` gets no gradient.
#[derive(Debug)]
pub struct TrainLogits<const K: usize, E: Dtype, Dev: Storage<E>> {
    pub cls: Logits<K, E, Dev, OwnedTape<E, Dev>>,
    pub dist: Option<Logits<K, E, Dev, OwnedTape<E, Dev>>>,
}

const fn isqrt(n: usize) -> usize {
    let mut r = 0;
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    r
}

impl<
        const P: usize,
        const PD: usize,
        const D: usize,
        const D3: usize,
        const H: usize,
        const F: usize,
        const T: usize,
        const K: usize,
        const L: usize,
        Dist: DistSlot<D, K, E, Dev>,
        E: Dtype,
        Dev: Kernels<E>,
    > Deit<P, PD, D, D3, H, F, T, K, L, Dist, E, Dev>
{
    /// Input channels C.
    pub const CHANNELS: usize = PatchEmbed::<P, PD, D, E, Dev>::CHANNELS;
    /// cls, plus dist when distilled.
    pub const PREFIX_TOKENS: usize = 1 + Dist::TOKENS;
    /// Patches per side.
    pub const GRID: usize = {
        assert!(
            T > Self::PREFIX_TOKENS,
            "T must count the prefix tokens and the patches"
        );
        let g = isqrt(T - Self::PREFIX_TOKENS);
        assert!(
            g * g == T - Self::PREFIX_TOKENS,
            "T - prefix tokens must be a square"
        );
        g
    };
    /// Image side in pixels.
    pub const IMAGE: usize = P * Self::GRID;

    /// Whether this type has the shape `m` describes; on mismatch, which fields differ.
    pub fn check_ir(m: &ir::Model) -> Result<(), String> {
        let fields = [
            ("patch", m.patch, P),
            ("image", m.image, Self::IMAGE),
            ("channels", m.channels, Self::CHANNELS),
            ("embed", m.embed, D),
            ("depth", m.depth, L),
            ("heads", m.heads, H),
            ("mlp hidden", m.mlp_hidden(), F),
            ("classes", m.classes, K),
            ("distilled", usize::from(m.distilled), Dist::TOKENS),
            ("qkv_bias", usize::from(m.qkv_bias), 1),
        ];
        let diffs: Vec<String> = fields
            .iter()
            .filter(|(_, want, have)| want != have)
            .map(|(name, want, have)| format!("{name}: recipe {want}, model {have}"))
            .collect();
        match diffs.is_empty() {
            true => Ok(()),
            false => Err(diffs.join("; ")),
        }
    }

    /// `forward_features` in eval mode: images `(B, C, H, W)` → normed tokens `(B, T, D)`.
    pub fn try_forward_features<S, Tp>(
        &self,
        x: Tensor<S, E, Dev, Tp>,
    ) -> Result<Tokens<Const<T>, D, E, Dev, Tp>, Dev::Err>
    where
        S: Shape<Concrete = [usize; 4]>,
        Tp: Tape<E, Dev>,
    {
        self.try_features_with(x, Regularization::default())
    }

    /// Train mode: both heads' logits, with dropout and stochastic depth at `reg`'s rates.
    pub fn try_forward_train<S>(
        &self,
        x: Tensor<S, E, Dev, OwnedTape<E, Dev>>,
        reg: Regularization,
    ) -> Result<TrainLogits<K, E, Dev>, Dev::Err>
    where
        S: Shape<Concrete = [usize; 4]>,
    {
        let features = self.try_features_with(x, reg)?; // (B, T, D)
        let (cls, dist) = self.try_heads(features)?;
        Ok(TrainLogits { cls, dist })
    }

    /// `head` on token 0 and `head_dist` on token 1 of the features `(B, T, D)`.
    #[allow(clippy::type_complexity)]
    pub fn try_heads<Tp: Tape<E, Dev>>(
        &self,
        features: Tokens<Const<T>, D, E, Dev, Tp>,
    ) -> Result<(Logits<K, E, Dev, Tp>, Option<Logits<K, E, Dev, Tp>>), Dev::Err> {
        let b = features.shape().0;
        let token = |x: Tokens<Const<T>, D, E, Dev, Tp>, i: usize| {
            x.try_slice((.., i..i + 1, ..))?
                .try_reshape_like(&(b, Const::<D>)) // (B, D)
        };
        let (features, tape) = features.split_tape();
        let cls = self
            .head
            .try_forward(token(features.clone().put_tape(tape), 0)?)?; // (B, K)
        let dist = match self.dist.parts() {
            Some((_, head_dist)) => Some(head_dist.try_forward(token(features.retaped(), 1)?)?),
            None => None,
        };
        Ok((cls, dist))
    }

    /// # Panics
    /// If the images are not `(B, C, IMAGE, IMAGE)`.
    fn try_features_with<S, Tp>(
        &self,
        x: Tensor<S, E, Dev, Tp>,
        reg: Regularization,
    ) -> Result<Tokens<Const<T>, D, E, Dev, Tp>, Dev::Err>
    where
        S: Shape<Concrete = [usize; 4]>,
        Tp: Tape<E, Dev>,
    {
        let [b, c, h, w] = x.shape().concrete();
        let want = [b, Self::CHANNELS, Self::IMAGE, Self::IMAGE];
        assert_eq!([b, c, h, w], want, "DeiT input (B, C, H, W)");
        let x = self.patch_embed.try_forward(x)?; // (B, N, D)
        let token = |t: &Tensor<Rank3<1, 1, D>, E, Dev>| {
            t.retaped::<Tp>()
                .try_reshape::<Rank1<D>>()?
                .try_broadcast_like::<_, Axes2<0, 1>>(&(b, 1usize, Const::<D>)) // (B, 1, D)
        };
        let mut prefix = token(&self.cls_token)?; // (B, 1, D)
        if let Some((dist_token, _)) = self.dist.parts() {
            prefix = (prefix, token(dist_token)?).try_concat_along(Axis::<1>)?; // (B, 2, D)
        }
        let x = (prefix, x).try_concat_along(Axis::<1>)?; // (B, T, D)
        let x = x
            .try_realize::<(usize, Const<T>, Const<D>)>()
            .unwrap_or_else(|_| unreachable!("prefix + patches = T was checked above"));
        let pos = self
            .pos_embed
            .retaped::<Tp>()
            .try_reshape::<Rank2<T, D>>()?
            .try_broadcast_like::<_, Axis<0>>(x.shape())?; // (B, T, D)

        // The embedding's dropout draws from block 0's seed, at a site of its own.
        let x = x.try_add(pos)?; // (B, T, D)
        let mut x = dropout(x, reg.dropout, reg.seed, Site::Embedding)?; // (B, T, D)

        // Each block: (B, T, D) → (B, T, D).
        for (i, block) in self.blocks.modules.iter().enumerate() {
            let seed = reg.seed.wrapping_add(2 * i as u64);
            x = block.try_forward_with(x, reg.dropout, reg.drop_path_at(i, L), seed)?;
        }
        Dev::layer_norm(&self.norm, x) // (B, T, D)
    }

    /// Reads a timm `state_dict` saved as safetensors (see [`Deit::load_timm_tensors`]).
    pub fn load_timm(&mut self, path: impl AsRef<Path>) -> Result<(), LoadError> {
        self.load_timm_tensors(&TensorFile::read(path)?, "")
    }

    /// Copies `file[prefix + name]` into every tensor `name` (timm names and layouts).
    /// Strict: a missing key, a shape or dtype mismatch, or a key under `prefix` the model
    /// lacks is an error, and then nothing has been written.
    pub fn load_timm_tensors(&mut self, file: &TensorFile, prefix: &str) -> Result<(), LoadError> {
        load_strict(self, file, prefix, Self::CHANNELS, P)
    }
}

/// Eval mode: `(head(cls) + head_dist(dist)) / 2` for a distilled model, `head(cls)` for a
/// plain one; no dropout or stochastic depth. With an `OwnedTape` input, gradients flow.
///
/// # Panics
/// If the images are not `(B, C, IMAGE, IMAGE)`.
impl<
        S: Shape<Concrete = [usize; 4]>,
        const P: usize,
        const PD: usize,
        const D: usize,
        const D3: usize,
        const H: usize,
        const F: usize,
        const T: usize,
        const K: usize,
        const L: usize,
        Dist: DistSlot<D, K, E, Dev>,
        E: Dtype,
        Dev: Kernels<E>,
        Tp: Tape<E, Dev>,
    > Module<Tensor<S, E, Dev, Tp>> for Deit<P, PD, D, D3, H, F, T, K, L, Dist, E, Dev>
{
    type Output = Logits<K, E, Dev, Tp>;
    type Error = Dev::Err;

    fn try_forward(&self, x: Tensor<S, E, Dev, Tp>) -> Result<Self::Output, Dev::Err> {
        let (cls, dist) = self.try_heads(self.try_forward_features(x)?)?;
        match dist {
            Some(dist) => cls
                .try_add(dist)?
                .try_div(E::from_f64(2.0).unwrap_or_default()),
            None => Ok(cls),
        }
    }
}

impl<
        const P: usize,
        const PD: usize,
        const D: usize,
        const D3: usize,
        const H: usize,
        const F: usize,
        const T: usize,
        const K: usize,
        const L: usize,
        Dist: TensorCollection<E, Dev>,
        E: Dtype,
        Dev: Device<E>,
    > TensorCollection<E, Dev> for Deit<P, PD, D, D3, H, F, T, K, L, Dist, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> =
        Deit<P, PD, D, D3, H, F, T, K, L, Dist::To<E2, D2>, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("patch_embed", |s| &s.patch_embed, |s| &mut s.patch_embed),
                field!("cls_token", cls_token, init::trunc_normal()),
                // An empty name: `dist_token` and `head_dist.*` sit at the top level, as in
                // timm (this holds while the model is the root of the visit).
                Self::module("", |s| &s.dist, |s| &mut s.dist),
                field!("pos_embed", pos_embed, init::trunc_normal()),
                Self::module("blocks", |s| &s.blocks, |s| &mut s.blocks),
                (
                    field!("norm.weight", norm.gamma, init::ones()),
                    field!("norm.bias", norm.beta, init::zeros()),
                    field!("head.weight", head.weight, init::trunc_normal()),
                    field!("head.bias", head.bias, init::zeros()),
                ),
            ),
            |(patch_embed, cls_token, dist, pos_embed, blocks, (gamma, beta, weight, bias))| Deit {
                patch_embed,
                cls_token,
                dist,
                pos_embed,
                blocks,
                norm: layer_norm(gamma, beta),
                head: linear(weight, bias),
            },
        )
    }
}
