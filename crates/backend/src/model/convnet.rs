//! A small convolutional network (two stages of two 3×3 convolutions) for small images, with
//! the same driving API as [`Deit`](super::Deit): eval forward as `Module`,
//! `try_forward_train`, `load_timm_tensors`, `TensorCollection`.
//!
//! `(B, C, IMG, IMG)` → conv3×3 C→W1, ReLU, conv3×3 W1→W1, ReLU, 2×2 average pool →
//! conv3×3 W1→W2, ReLU, conv3×3 W2→W2, ReLU, global average pool → dropout → `Linear<W2, K>`.
//! Internally the maps are channels-last ([`FeatureMap`](super::FeatureMap); method in `conv.rs`).

use std::path::Path;

use dfdx::nn::modules::Linear;
use dfdx::nn::{Module, ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::conv::{avg_pool2x2, global_avg_pool, to_channels_last, Conv3x3, FeatureMap};
use super::load_timm::load_strict;
use super::regularization::{dropout_at, Site};
use super::{init, linear, LoadError, Logits, Regularization, TensorFile, TrainLogits};
use crate::device::{compose, Dropout};

/// Two 3×3 convolutions, each followed by ReLU: `(B, H, W, I)` → `(B, H, W, O)`. Tensors
/// `0.weight`, `0.bias`, `1.weight`, `1.bias` (a PyTorch `nn.Sequential` of the convs).
#[derive(Debug, Clone)]
pub struct ConvStage<const I: usize, const O: usize, E: Dtype, Dev: Storage<E>> {
    pub conv0: Conv3x3<I, O, E, Dev>,
    pub conv1: Conv3x3<O, O, E, Dev>,
}

impl<const I: usize, const O: usize, E: Dtype, Dev: Device<E>> TensorCollection<E, Dev>
    for ConvStage<I, O, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = ConvStage<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("0", |s| &s.conv0, |s| &mut s.conv0),
                Self::module("1", |s| &s.conv1, |s| &mut s.conv1),
            ),
            |(conv0, conv1)| ConvStage { conv0, conv1 },
        )
    }
}

impl<const I: usize, const O: usize, E: Dtype, Dev: Device<E>, Tp: Tape<E, Dev>>
    Module<FeatureMap<I, E, Dev, Tp>> for ConvStage<I, O, E, Dev>
{
    type Output = FeatureMap<O, E, Dev, Tp>;
    type Error = Dev::Err;

    fn try_forward(&self, x: FeatureMap<I, E, Dev, Tp>) -> Result<Self::Output, Dev::Err> {
        let x = self.conv0.try_forward(x)?.try_relu()?; // (B, H, W, O)
        self.conv1.try_forward(x)?.try_relu() // (B, H, W, O)
    }
}

/// The convolutional network, every parameter shape fixed at compile time.
///
/// * `C` input channels, `IMG` image side (even)
/// * `W1`, `W2` widths of stage 0 and stage 1; `K` classes
///
/// Tensors (PyTorch layouts): `stages.0.0.weight` `[W1, C, 3, 3]`, `stages.0.0.bias` `[W1]`,
/// `stages.0.1.*`, `stages.1.0.*`, `stages.1.1.*`, `head.weight` `[K, W2]`, `head.bias`.
/// `BuildModule::build` initialises convolutions Kaiming-normal (fan-out, ReLU gain) with zero
/// biases, and the head trunc-normal 0.02 with a zero bias.
#[derive(Debug, Clone)]
pub struct ConvNet<
    const C: usize,
    const IMG: usize,
    const W1: usize,
    const W2: usize,
    const K: usize,
    E: Dtype,
    Dev: Storage<E>,
> {
    /// `stages.0`: full resolution, followed by 2×2 average pooling.
    pub stage0: ConvStage<C, W1, E, Dev>,
    /// `stages.1`: half resolution, followed by global average pooling.
    pub stage1: ConvStage<W1, W2, E, Dev>,
    pub head: Linear<W2, K, E, Dev>,
}

impl<
        const C: usize,
        const IMG: usize,
        const W1: usize,
        const W2: usize,
        const K: usize,
        E: Dtype,
        Dev: Device<E>,
    > ConvNet<C, IMG, W1, W2, K, E, Dev>
{
    /// Input channels C.
    pub const CHANNELS: usize = C;
    /// Image side in pixels.
    pub const IMAGE: usize = {
        assert!(IMG > 0 && IMG.is_multiple_of(2), "IMG must be even");
        IMG
    };

    /// Train mode: logits with dropout before the head at `reg.dropout` (`drop_path` does not
    /// apply to this network). `dist` is always `None`.
    pub fn try_forward_train<S>(
        &self,
        x: Tensor<S, E, Dev, OwnedTape<E, Dev>>,
        reg: Regularization,
    ) -> Result<TrainLogits<K, E, Dev>, Dev::Err>
    where
        S: Shape<Concrete = [usize; 4]>,
    {
        let drop = dropout_at(reg.dropout, reg.seed, Site::Embedding);
        let cls = self.try_logits_with(x, drop)?; // (B, K)
        Ok(TrainLogits { cls, dist: None })
    }

    /// # Panics
    /// If the images are not `(B, C, IMG, IMG)`.
    fn try_logits_with<S, Tp>(
        &self,
        x: Tensor<S, E, Dev, Tp>,
        drop: Option<Dropout>,
    ) -> Result<Logits<K, E, Dev, Tp>, Dev::Err>
    where
        S: Shape<Concrete = [usize; 4]>,
        Tp: Tape<E, Dev>,
    {
        let [b, c, h, w] = x.shape().concrete();
        let want = [b, Self::CHANNELS, Self::IMAGE, Self::IMAGE];
        assert_eq!([b, c, h, w], want, "ConvNet input (B, C, H, W)");
        let x = to_channels_last::<_, C, _, _, _>(x)?; // (B, IMG, IMG, C)
        let x = self.stage0.try_forward(x)?; // (B, IMG, IMG, W1)
        let x = avg_pool2x2(x)?; // (B, IMG/2, IMG/2, W1)
        let x = self.stage1.try_forward(x)?; // (B, IMG/2, IMG/2, W2)
        let x = global_avg_pool(x)?; // (B, W2)
        let x = compose::dropout(x, drop)?; // (B, W2): a small mask, drawn on the host
        self.head.try_forward(x) // (B, K)
    }

    /// Reads a PyTorch `state_dict` saved as safetensors (see
    /// [`ConvNet::load_timm_tensors`]).
    pub fn load_timm(&mut self, path: impl AsRef<Path>) -> Result<(), LoadError> {
        self.load_timm_tensors(&TensorFile::read(path)?, "")
    }

    /// Copies `file[prefix + name]` into every tensor `name` (PyTorch names and layouts).
    /// Strict: a missing key, a shape or dtype mismatch, or a key under `prefix` the model
    /// lacks is an error, and then nothing has been written.
    pub fn load_timm_tensors(&mut self, file: &TensorFile, prefix: &str) -> Result<(), LoadError> {
        load_strict(self, file, prefix, C, 0)
    }
}

/// Eval mode: logits `(B, K)`, no dropout. With an `OwnedTape` input, gradients flow.
///
/// # Panics
/// If the images are not `(B, C, IMG, IMG)`.
impl<
        S: Shape<Concrete = [usize; 4]>,
        const C: usize,
        const IMG: usize,
        const W1: usize,
        const W2: usize,
        const K: usize,
        E: Dtype,
        Dev: Device<E>,
        Tp: Tape<E, Dev>,
    > Module<Tensor<S, E, Dev, Tp>> for ConvNet<C, IMG, W1, W2, K, E, Dev>
{
    type Output = Logits<K, E, Dev, Tp>;
    type Error = Dev::Err;

    fn try_forward(&self, x: Tensor<S, E, Dev, Tp>) -> Result<Self::Output, Dev::Err> {
        self.try_logits_with(x, None)
    }
}

impl<
        const C: usize,
        const IMG: usize,
        const W1: usize,
        const W2: usize,
        const K: usize,
        E: Dtype,
        Dev: Device<E>,
    > TensorCollection<E, Dev> for ConvNet<C, IMG, W1, W2, K, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = ConvNet<C, IMG, W1, W2, K, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("stages.0", |s| &s.stage0, |s| &mut s.stage0),
                Self::module("stages.1", |s| &s.stage1, |s| &mut s.stage1),
                field!("head.weight", head.weight, init::trunc_normal()),
                field!("head.bias", head.bias, init::zeros()),
            ),
            |(stage0, stage1, weight, bias)| ConvNet {
                stage0,
                stage1,
                head: linear(weight, bias),
            },
        )
    }
}
