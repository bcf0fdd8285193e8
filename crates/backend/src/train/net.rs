//! What the trainer needs from a statically shaped network, whatever its architecture: a
//! train-mode forward (both heads), an eval-mode forward with the recipe's eval head, and
//! loading named weights. [`Deit`] and [`ConvNet`] implement it here.

use crate::device::Backend;
use crate::ir::EvalHead;
use crate::model::{
    ConvNet, Deit, DistSlot, LoadError, Logits, Regularization, TensorFile, TrainLogits,
};
use dfdx::nn::{BuildModule, Module, TensorCollection};
use dfdx::prelude::*;

/// Images `(B, C, H, W)` on device `Dev`.
pub type Images<Dev, Tp = NoneTape> = Tensor<(usize, usize, usize, usize), f32, Dev, Tp>;

/// A network with `K` classes on device `Dev`, as the training loop drives it.
pub trait Net<const K: usize, Dev: Backend>:
    TensorCollection<f32, Dev> + BuildModule<Dev, f32> + Clone + 'static
{
    /// Input channels C.
    const CHANNELS: usize;
    /// Input side in pixels.
    const IMAGE: usize;

    /// Train mode: dropout and stochastic depth at `reg`'s rates; both heads' logits.
    fn forward_train(
        &self,
        x: Images<Dev, OwnedTape<f32, Dev>>,
        reg: Regularization,
    ) -> Result<TrainLogits<K, f32, Dev>, Dev::Err>;

    /// Eval mode: logits `(B, K)` of the head `head` picks.
    fn forward_eval(&self, x: Images<Dev>, head: EvalHead)
        -> Result<Logits<K, f32, Dev>, Dev::Err>;

    /// Copies `file[prefix + name]` into every tensor (strict: all or nothing).
    fn load(&mut self, file: &TensorFile, prefix: &str) -> Result<(), LoadError>;
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
        Dist,
        Dev,
    > Net<K, Dev> for Deit<P, PD, D, D3, H, F, T, K, L, Dist, f32, Dev>
where
    Dev: Backend,
    Dist: DistSlot<D, K, f32, Dev> + Clone + 'static,
    Self: BuildModule<Dev, f32> + Clone,
{
    const CHANNELS: usize = Self::CHANNELS;
    const IMAGE: usize = Self::IMAGE;

    fn forward_train(
        &self,
        x: Images<Dev, OwnedTape<f32, Dev>>,
        reg: Regularization,
    ) -> Result<TrainLogits<K, f32, Dev>, Dev::Err> {
        self.try_forward_train(x, reg)
    }

    fn forward_eval(
        &self,
        x: Images<Dev>,
        head: EvalHead,
    ) -> Result<Logits<K, f32, Dev>, Dev::Err> {
        if head == EvalHead::Average {
            return self.try_forward(x);
        }
        let (cls, dist) = self.try_heads(self.try_forward_features(x)?)?;
        Ok(match (head, dist) {
            (EvalHead::Dist, Some(dist)) => dist,
            _ => cls,
        })
    }

    fn load(&mut self, file: &TensorFile, prefix: &str) -> Result<(), LoadError> {
        self.load_timm_tensors(file, prefix)
    }
}

impl<const C: usize, const IMG: usize, const W1: usize, const W2: usize, const K: usize, Dev>
    Net<K, Dev> for ConvNet<C, IMG, W1, W2, K, f32, Dev>
where
    Dev: Backend,
    Self: BuildModule<Dev, f32> + Clone,
{
    const CHANNELS: usize = Self::CHANNELS;
    const IMAGE: usize = Self::IMAGE;

    fn forward_train(
        &self,
        x: Images<Dev, OwnedTape<f32, Dev>>,
        reg: Regularization,
    ) -> Result<TrainLogits<K, f32, Dev>, Dev::Err> {
        self.try_forward_train(x, reg)
    }

    /// One head: every eval head reads the same logits.
    fn forward_eval(&self, x: Images<Dev>, _: EvalHead) -> Result<Logits<K, f32, Dev>, Dev::Err> {
        self.try_forward(x)
    }

    fn load(&mut self, file: &TensorFile, prefix: &str) -> Result<(), LoadError> {
        self.load_timm_tensors(file, prefix)
    }
}
