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
//! thread count, with AdamW's f64 arithmetic in the CPU's widest vectors. On every other
//! device it runs as tensor ops on the device, with the moments kept there ([`device`]).

use crate::ir::{NoDecay, Optimizer as OptimizerIr, OptimizerKind};
use crate::model::{simd, zeros, Kernel};
use dfdx::nn::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;
use rayon::prelude::*;
use std::any::{Any, TypeId};
use std::collections::BTreeMap;

mod device;
pub use device::DeviceMoments;

/// Elements per parallel task of the element-wise updates.
const CHUNK: usize = 1 << 14;

/// A parameter's (or its gradient's) values by one copy of its buffer: parameters and their
/// gradients are row-major with a buffer of exactly their size (checked in debug builds).
fn values<S: Shape, D: Device<f32>>(t: &Tensor<S, f32, D>) -> Vec<f32> {
    let mut v = zeros(t.shape().num_elements());
    t.copy_into(&mut v);
    debug_assert!(v == t.as_vec(), "optimizer::values on a strided tensor");
    v
}

/// `f` of the gradient of `t`: read in place on the CPU (dfdx's `Gradients::get` would
/// clone the buffer), a copy elsewhere.
fn with_grad<S: Shape, D: Device<f32>, R>(
    grads: &mut Gradients<f32, D>,
    t: &Tensor<S, f32, D>,
    f: impl FnOnce(&[f32]) -> R,
) -> Result<R, D::Err> {
    let buf = grads.get_or_alloc_mut(t)? as &mut dyn Any;
    if let Some(g) = buf.downcast_mut::<<Cpu as Storage<f32>>::Vec>() {
        debug_assert_eq!(g.len(), t.shape().num_elements());
        return Ok(f(g));
    }
    Ok(f(&values(&grads.get(t))))
}

/// Per-parameter state: first and second moments (AdamW) or the momentum buffer (SGD, in `m`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    pub cfg: OptimizerIr,
    /// Optimizer steps taken.
    pub t: u64,
    /// Moments on the host: the CPU's, and those a checkpoint restored until another
    /// device's first step takes them over.
    pub state: BTreeMap<String, Moments>,
    /// Moments on another device (empty on the CPU).
    pub device: DeviceMoments,
}

/// What one step did, for logging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Factor the gradients were scaled by (1 without clipping).
    pub clip_scale: f64,
}

impl Optimizer {
    pub fn new(cfg: &OptimizerIr) -> Self {
        Optimizer {
            cfg: cfg.clone(),
            t: 0,
            state: BTreeMap::new(),
            device: DeviceMoments::default(),
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

    /// One update of every parameter of `model` from `grads`, at learning rate `lr`: on the
    /// host for the CPU, as tensor ops on the device elsewhere.
    pub fn step<M: TensorCollection<f32, D>, D: Device<f32>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, D>,
        lr: f64,
    ) -> Result<StepInfo, D::Err> {
        if TypeId::of::<D>() == TypeId::of::<Cpu>() {
            self.run(model, grads, lr, Host { sum: 0.0 })
        } else {
            self.step_on_device(model, grads, lr)
        }
    }

    /// [`Optimizer::step`] as tensor ops on the parameters' device, whatever it is (the
    /// CPU included: tests compare the two paths there).
    pub fn step_on_device<M: TensorCollection<f32, D>, D: Device<f32>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, D>,
        lr: f64,
    ) -> Result<StepInfo, D::Err> {
        self.run(model, grads, lr, device::OnDevice { sum: None })
    }

    /// A step along `path`: the global gradient norm, the clip scale, then every update.
    fn run<M: TensorCollection<f32, D>, D: Device<f32>, P: Path<D>>(
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
        let grad_norm = path.norm();
        let clip_scale = self.clip_scale(grad_norm);
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
        Ok(StepInfo {
            grad_norm,
            clip_scale,
        })
    }
}

/// Where a step's arithmetic runs: [`Host`] or [`device::OnDevice`].
trait Path<D: Device<f32>> {
    /// Adds Σ g² of `t`'s gradient to the path's running sum.
    fn add_squares<S: Shape>(
        &mut self,
        grads: &mut Gradients<f32, D>,
        t: &Tensor<S, f32, D>,
    ) -> Result<(), D::Err>;

    /// √ of the running sum.
    fn norm(&mut self) -> f64;

    /// Updates parameter `t` (named `name`) from its gradient scaled by `u.scale`.
    fn update<S: Shape>(
        &mut self,
        opt: &mut Optimizer,
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

/// The CPU's path: host copies of each parameter, its gradient read in place, f64 sums.
struct Host {
    sum: f64,
}

impl<D: Device<f32>> Path<D> for Host {
    fn add_squares<S: Shape>(
        &mut self,
        grads: &mut Gradients<f32, D>,
        t: &Tensor<S, f32, D>,
    ) -> Result<(), D::Err> {
        self.sum += with_grad(grads, t, sum_squares)?;
        Ok(())
    }

    fn norm(&mut self) -> f64 {
        self.sum.sqrt()
    }

    fn update<S: Shape>(
        &mut self,
        opt: &mut Optimizer,
        grads: &mut Gradients<f32, D>,
        t: &mut Tensor<S, f32, D>,
        name: String,
        u: Hyper,
    ) -> Result<(), D::Err> {
        let mut p = values(t);
        let (cfg, step) = (&opt.cfg, opt.t);
        let state = opt.state.entry(name).or_default();
        with_grad(grads, t, |g| match cfg.kind {
            OptimizerKind::Adamw => adamw(&mut p, g, u.scale, state, cfg, u.lr, u.decay, step),
            OptimizerKind::Sgd => sgd(&mut p, g, u.scale, state, cfg, u.lr, u.decay),
        })?;
        t.copy_from(&p);
        Ok(())
    }
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
    opt: &'a mut Optimizer,
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

/// Σ g² in f64: partial sums over fixed chunks (eight lanes each), added in order, so the
/// same bits for any thread count.
fn sum_squares(g: &[f32]) -> f64 {
    let partials: Vec<f64> = g
        .par_chunks(CHUNK)
        .map(|c| {
            let mut lanes = [0.0f64; 8];
            let mut chunks = c.chunks_exact(8);
            for x in &mut chunks {
                for (l, &v) in lanes.iter_mut().zip(x) {
                    *l += f64::from(v) * f64::from(v);
                }
            }
            let rest: f64 = chunks
                .remainder()
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum();
            lanes.iter().sum::<f64>() + rest
        })
        .collect();
    partials.iter().sum()
}

/// `torch.optim.AdamW`: decoupled decay, then the bias-corrected Adam step, on the
/// gradient `scale·g`.
#[allow(clippy::too_many_arguments)]
fn adamw(
    p: &mut [f32],
    g: &[f32],
    scale: f32,
    s: &mut Moments,
    cfg: &OptimizerIr,
    lr: f64,
    wd: f64,
    t: u64,
) {
    let [b1, b2] = cfg.betas;
    if s.m.len() != p.len() {
        s.m = vec![0.0; p.len()];
        s.v = vec![0.0; p.len()];
    }
    let step = AdamwStep {
        scale,
        b1,
        b2,
        sqrt_bc2: (1.0 - b2.powi(t as i32)).sqrt(),
        step_size: lr / (1.0 - b1.powi(t as i32)),
        decay: (1.0 - lr * wd) as f32,
        eps: cfg.eps,
    };
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(s.m.par_chunks_mut(CHUNK))
        .zip(s.v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| simd(AdamwChunk { p, g, m, v, step }));
}

/// The constants of one AdamW step.
#[derive(Clone, Copy)]
struct AdamwStep {
    scale: f32,
    b1: f64,
    b2: f64,
    sqrt_bc2: f64,
    step_size: f64,
    decay: f32,
    eps: f64,
}

/// One chunk of an AdamW step, as a [`Kernel`] so the f64 arithmetic runs in the CPU's
/// widest vectors (IEEE operations without contraction: the same bits at any width).
struct AdamwChunk<'a> {
    p: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    step: AdamwStep,
}

impl Kernel for AdamwChunk<'_> {
    #[inline(always)]
    fn run(self) {
        let AdamwStep {
            scale,
            b1,
            b2,
            sqrt_bc2,
            step_size,
            decay,
            eps,
        } = self.step;
        for (((p, &g), sm), sv) in self.p.iter_mut().zip(self.g).zip(self.m).zip(self.v) {
            let gi = f64::from(g * scale);
            let m = b1 * f64::from(*sm) + (1.0 - b1) * gi;
            let v = b2 * f64::from(*sv) + (1.0 - b2) * gi * gi;
            *sm = m as f32;
            *sv = v as f32;
            let denom = (f64::from(*sv).sqrt() / sqrt_bc2) + eps;
            *p = ((*p * decay) as f64 - step_size * f64::from(*sm) / denom) as f32;
        }
    }
}

/// `torch.optim.SGD` with momentum (dampening 0) and L2 weight decay, on the gradient
/// `scale·g`.
#[allow(clippy::too_many_arguments)]
fn sgd(p: &mut [f32], g: &[f32], scale: f32, s: &mut Moments, cfg: &OptimizerIr, lr: f64, wd: f64) {
    let first = s.m.len() != p.len();
    if first {
        s.m = vec![0.0; p.len()];
    }
    let momentum = cfg.momentum;
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(s.m.par_chunks_mut(CHUNK))
        .for_each(|((p, g), sm)| {
            for ((p, &g), sm) in p.iter_mut().zip(g).zip(sm) {
                let gi = f64::from(g * scale) + wd * f64::from(*p);
                let b = if first {
                    gi
                } else {
                    momentum * f64::from(*sm) + gi
                };
                *sm = b as f32;
                *p = (f64::from(*p) - lr * b) as f32;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let o = Optimizer::new(&cfg());
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

    #[test]
    fn adamw_matches_hand_computed_steps() {
        // Two steps on one scalar, by hand from torch's formulas.
        let c = cfg();
        let mut p = [1.0f32];
        let mut s = Moments::default();
        adamw(&mut p, &[0.5], 1.0, &mut s, &c, 1e-3, 0.05, 1);
        // m = 0.05, v = 0.00025; step 1: p·(1−5e-5) − 1e-3·(0.05/0.1)/(sqrt(0.00025)/sqrt(0.001)+1e-8)
        let want1 = 1.0 * (1.0 - 1e-3 * 0.05)
            - 1e-3 * 0.5 / ((0.00025f64).sqrt() / (0.001f64).sqrt() + 1e-8);
        assert!(
            (f64::from(p[0]) - want1).abs() < 1e-7,
            "{} vs {want1}",
            p[0]
        );
        adamw(&mut p, &[-0.25], 1.0, &mut s, &c, 1e-3, 0.0, 2);
        let (m, v): (f64, f64) = (0.9 * 0.05 + 0.1 * -0.25, 0.999 * 0.00025 + 0.001 * 0.0625);
        let (bc1, bc2) = (1.0 - 0.81, 1.0 - 0.999f64.powi(2));
        let want2 = want1 - 1e-3 / bc1 * m / (v.sqrt() / bc2.sqrt() + 1e-8);
        assert!(
            (f64::from(p[0]) - want2).abs() < 1e-6,
            "{} vs {want2}",
            p[0]
        );
    }

    #[test]
    fn updates_are_the_same_bits_for_any_thread_count() {
        let n = 3 * CHUNK + 17;
        let g: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let run = |threads: usize, kind: OptimizerKind| {
            let mut c = cfg();
            c.kind = kind;
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut p: Vec<f32> = g.iter().map(|x| x * 0.3 + 1.0).collect();
                let mut s = Moments::default();
                for t in 1..=3 {
                    match kind {
                        OptimizerKind::Adamw => adamw(&mut p, &g, 1.0, &mut s, &c, 1e-3, 0.05, t),
                        OptimizerKind::Sgd => sgd(&mut p, &g, 1.0, &mut s, &c, 0.1, 0.05),
                    }
                }
                (p, s)
            })
        };
        for kind in [OptimizerKind::Adamw, OptimizerKind::Sgd] {
            assert_eq!(run(1, kind), run(3, kind));
        }
    }

    #[test]
    fn sgd_with_momentum_matches_torch() {
        let mut c = cfg();
        c.kind = OptimizerKind::Sgd;
        let mut p = [1.0f32];
        let mut s = Moments::default();
        sgd(&mut p, &[0.5], 1.0, &mut s, &c, 0.1, 0.0);
        assert!((p[0] - 0.95).abs() < 1e-7);
        sgd(&mut p, &[0.5], 1.0, &mut s, &c, 0.1, 0.0);
        assert!((p[0] - (0.95 - 0.1 * (0.9 * 0.5 + 0.5))).abs() < 1e-6);
    }
}
