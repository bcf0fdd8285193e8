//! AdamW (PyTorch's form) and SGD with momentum, with weight-decay groups and global-norm
//! gradient clipping — what dfdx's single-decay `Adam` cannot express.
//!
//! Parameters are visited under their timm names; a parameter is excluded from decay when
//! the recipe's `optimizer.no_decay` names its group: `bias` (names ending in `.bias`),
//! `norm` (LayerNorm weights and biases), `pos_embed`, `cls_token`, `dist_token`. The
//! official set, `[bias, norm, pos_embed, cls_token]`, equals timm's filter (every 1-D
//! parameter, `pos_embed`, `cls_token`) for a ViT; `dist_token` is decayed. The update runs
//! on the CPU on a host copy of each parameter (one `memcpy` each way), reading its gradient
//! in place; the element-wise work runs in parallel fixed chunks, so the same bits for any
//! thread count, with AdamW's f64 arithmetic in the CPU's widest vectors ([`host`]). By
//! default on other devices it runs as tensor ops on the device, with the moments kept there
//! ([`device`]); CUDA runs deitc's fused kernels on those moments (`cuda.rs`). Which path a
//! device takes is its [`crate::device::Backend::optimizer_step`].

use crate::ir::{NoDecay, Optimizer as OptimizerIr};
use dfdx::nn::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;
use std::collections::BTreeMap;

#[cfg(feature = "cuda")]
mod cuda;
#[cfg(test)]
mod cuda_parity;
mod device;
mod host;
pub use device::DeviceMoments;

/// Per-parameter state: first and second moments (AdamW) or the momentum buffer (SGD, in `m`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

/// The optimizer of a model on device `D`.
pub struct Optimizer<D: Device<f32>> {
    pub cfg: OptimizerIr,
    /// Optimizer steps taken.
    pub t: u64,
    /// Moments on the host: the CPU's, and those a checkpoint restored until another
    /// device's first step takes them over.
    pub state: BTreeMap<String, Moments>,
    /// Moments on the device, for the device path (empty on the CPU's host path).
    pub device: DeviceMoments<D>,
    /// `[Σg², clip factor]` of the last step when its path left them on the device (CUDA's
    /// fused path: the step's one read takes them with its losses, `train::graph`).
    pub pending: Option<Tensor<Rank1<2>, f32, D>>,
}

impl<D: Device<f32>> Clone for Optimizer<D> {
    fn clone(&self) -> Self {
        Optimizer {
            cfg: self.cfg.clone(),
            t: self.t,
            state: self.state.clone(),
            device: self.device.clone(),
            pending: self.pending.clone(),
        }
    }
}

impl<D: Device<f32>> PartialEq for Optimizer<D> {
    fn eq(&self, other: &Self) -> bool {
        (&self.cfg, self.t, &self.state) == (&other.cfg, other.t, &other.state)
            && self.device == other.device
    }
}

impl<D: Device<f32>> std::fmt::Debug for Optimizer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer")
            .field("cfg", &self.cfg)
            .field("t", &self.t)
            .field("state", &self.state.len())
            .field("device", &self.device)
            .finish()
    }
}

/// What one step did, for logging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Global gradient norm before clipping; NaN when the path left it on the device
    /// ([`Optimizer::pending`]).
    pub grad_norm: f64,
    /// Factor the gradients were scaled by (1 without clipping).
    pub clip_scale: f64,
}

impl<D: Device<f32>> Optimizer<D> {
    pub fn new(cfg: &OptimizerIr) -> Self {
        Optimizer {
            cfg: cfg.clone(),
            t: 0,
            state: BTreeMap::new(),
            device: DeviceMoments::default(),
            pending: None,
        }
    }

    /// Every parameter's moments on the host (copied from the device where they live there).
    pub fn moments(&self) -> Vec<(String, Moments)> {
        let mut all: BTreeMap<String, Moments> = self.device.to_host().collect();
        for (name, s) in &self.state {
            all.entry(name.clone()).or_insert_with(|| s.clone());
        }
        all.into_iter().collect()
    }

    /// Forgets every moment (before a checkpoint's are restored into `state`).
    pub fn clear_moments(&mut self) {
        self.state.clear();
        self.device = DeviceMoments::default();
    }

    /// The factor the gradients are scaled by at global norm `grad_norm`.
    fn clip_scale(&self, grad_norm: f64) -> f64 {
        match self.cfg.clip_grad {
            // torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6), clamped to 1.
            Some(max) => (max / (grad_norm + 1e-6)).min(1.0),
            None => 1.0,
        }
    }

    /// Whether the parameter named `name` gets weight decay.
    pub fn decays(&self, name: &str) -> bool {
        let leaf = name.rsplit('.').next().unwrap_or(name);
        let in_norm = name.split('.').any(|part| part.starts_with("norm"));
        !self.cfg.no_decay.iter().any(|g| match g {
            NoDecay::Bias => leaf == "bias",
            NoDecay::Norm => in_norm,
            NoDecay::PosEmbed => name == "pos_embed",
            NoDecay::ClsToken => name == "cls_token",
            NoDecay::DistToken => name == "dist_token",
        })
    }

    /// One update of every parameter of `model` from `grads`, at learning rate `lr`, as
    /// tensor ops on the parameters' device, whatever it is (the CPU included: tests compare
    /// this path with the host's there).
    pub fn step_on_device<M: TensorCollection<f32, D>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, D>,
        lr: f64,
    ) -> Result<StepInfo, D::Err> {
        self.run(model, grads, lr, device::OnDevice { sum: None })
    }

    /// A step along `path`: the global gradient norm, the clip scale, then every update.
    fn run<M: TensorCollection<f32, D>, P: Path<D>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, D>,
        lr: f64,
        mut path: P,
    ) -> Result<StepInfo, D::Err> {
        M::iter_tensors(&mut RecursiveWalker {
            m: (&*model, String::new()),
            f: &mut GradNorm {
                grads: &mut *grads,
                path: &mut path,
            },
        })?;
        let norm = path.norm()?;
        // Gradients holding a NaN or an infinity: the step is not applied (nothing moves,
        // the step count included); the caller reports it. On the device the kernels skip
        // such a step themselves (`cuda/optimizer.cu`).
        if let Some(n) = norm.filter(|n| !n.is_finite()) {
            return Ok(StepInfo {
                grad_norm: n,
                clip_scale: f64::NAN,
            });
        }
        let grad_norm = norm.unwrap_or(f64::NAN);
        let clip_scale = norm.map_or(f64::NAN, |n| self.clip_scale(n));
        self.t += 1;
        let mut update = Update {
            opt: self,
            grads,
            path: &mut path,
            lr,
            scale: clip_scale as f32,
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, String::new()),
            f: &mut update,
        })?;
        path.finish(self)?;
        self.pending = path.pending()?;
        Ok(StepInfo {
            grad_norm,
            clip_scale,
        })
    }
}

/// Where a step's arithmetic runs: [`host::Host`] or [`device::OnDevice`].
trait Path<D: Device<f32>> {
    /// Adds Σ g² of `t`'s gradient to the path's running sum.
    fn add_squares<S: Shape>(
        &mut self,
        grads: &mut Gradients<f32, D>,
        t: &Tensor<S, f32, D>,
    ) -> Result<(), D::Err>;

    /// √ of the running sum, or `None` when it stays on the device (the updates read it
    /// there, and [`Path::pending`] hands it over).
    fn norm(&mut self) -> Result<Option<f64>, D::Err>;

    /// `[Σg², clip factor]` on the device, when [`Path::norm`] left them there.
    fn pending(&mut self) -> Result<Option<Tensor<Rank1<2>, f32, D>>, D::Err> {
        Ok(None)
    }

    /// After every [`Path::update`]: what a path runs once for all of them (the CUDA path's
    /// one AdamW launch); nothing by default.
    fn finish(&mut self, opt: &Optimizer<D>) -> Result<(), D::Err> {
        let _ = opt;
        Ok(())
    }

    /// Updates parameter `t` (named `name`) from its gradient scaled by `u.scale`.
    fn update<S: Shape>(
        &mut self,
        opt: &mut Optimizer<D>,
        grads: &mut Gradients<f32, D>,
        t: &mut Tensor<S, f32, D>,
        name: String,
        u: Hyper,
    ) -> Result<(), D::Err>;
}

/// One parameter's step constants: learning rate, clip scale, weight decay.
#[derive(Clone, Copy)]
struct Hyper {
    lr: f64,
    scale: f32,
    decay: f64,
}

/// Sums squared gradients along a [`Path`].
struct GradNorm<'a, D: Device<f32>, P> {
    grads: &'a mut Gradients<f32, D>,
    path: &'a mut P,
}

impl<D: Device<f32>, P: Path<D>> TensorVisitor<f32, D> for GradNorm<'_, D, P> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (t, _): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if opts.do_gradient_update {
            self.path.add_squares(self.grads, t)?;
        }
        Ok(None)
    }
}

/// Updates every trainable parameter along a [`Path`].
struct Update<'a, D: Device<f32>, P> {
    opt: &'a mut Optimizer<D>,
    grads: &'a mut Gradients<f32, D>,
    path: &'a mut P,
    lr: f64,
    scale: f32,
}

impl<D: Device<f32>, P: Path<D>> TensorVisitor<f32, D> for Update<'_, D, P> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (t, name): (&mut Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if opts.do_gradient_update {
            let decay = if self.opt.decays(&name) {
                self.opt.cfg.weight_decay
            } else {
                0.0
            };
            let u = Hyper {
                lr: self.lr,
                scale: self.scale,
                decay,
            };
            self.path.update(self.opt, self.grads, t, name, u)?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::OptimizerKind;

    fn cfg() -> OptimizerIr {
        OptimizerIr {
            kind: OptimizerKind::Adamw,
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            momentum: 0.9,
            weight_decay: 0.05,
            no_decay: vec![
                NoDecay::Bias,
                NoDecay::Norm,
                NoDecay::PosEmbed,
                NoDecay::ClsToken,
            ],
            clip_grad: None,
        }
    }

    #[test]
    fn decay_groups_follow_the_official_filter() {
        let o = Optimizer::<Cpu>::new(&cfg());
        for name in [
            "pos_embed",
            "cls_token",
            "blocks.0.norm1.weight",
            "norm.bias",
            "blocks.3.attn.qkv.bias",
            "head.bias",
        ] {
            assert!(!o.decays(name), "{name}");
        }
        for name in [
            "dist_token",
            "blocks.0.attn.qkv.weight",
            "head.weight",
            "patch_embed.proj.weight",
        ] {
            assert!(o.decays(name), "{name}");
        }
    }
}
