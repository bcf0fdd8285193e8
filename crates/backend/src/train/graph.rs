//! The one trait the training loop talks to, and its implementation for every statically
//! shaped DeiT: the loop sees runtime buffers (`images` as `B×C×H×W` f32, targets `B×K`),
//! the implementation turns them into typed dfdx tensors.

use super::net::{Images, Net};
use super::optimizer::Optimizer;
use super::tensor_io::{collect, Named};
use crate::device::Backend;
use crate::io_limits::{check_finite, NonFinite};
use crate::ir::{DistillMode, EvalHead, Recipe};
use crate::model::{LoadError, Regularization, TensorFile};
use dfdx::nn::ZeroGrads;
use dfdx::prelude::*;
use std::time::Instant;

/// Why a step or a load failed.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphError {
    /// The loss was NaN or infinite.
    NonFinite {
        loss: f64,
    },
    /// The gradients held a NaN or an infinity (global norm `norm`): the optimizer did not
    /// apply the step.
    NonFiniteGradient {
        norm: f64,
    },
    /// Distillation needs teacher logits that were not given.
    NoTeacher,
    /// Host buffers that do not hold the batch they claim: `got` values for `want`.
    Batch {
        what: &'static str,
        want: usize,
        got: usize,
    },
    Load(String),
    /// A loaded tensor holding NaN or infinite values.
    Weights(NonFinite),
    Device(String),
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphError::NonFinite { loss } => write!(f, "the loss is {loss}"),
            GraphError::NonFiniteGradient { norm } => {
                write!(f, "the gradient norm is {norm}; the step was not applied")
            }
            GraphError::NoTeacher => write!(f, "distillation needs teacher logits"),
            GraphError::Batch { what, want, got } => {
                write!(f, "{what}: {got} values for a batch that needs {want}")
            }
            GraphError::Load(m) => write!(f, "{m}"),
            GraphError::Weights(n) => write!(f, "{n}: weights must be finite"),
            GraphError::Device(m) => write!(f, "device error: {m}"),
        }
    }
}

impl From<LoadError> for GraphError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::NonFinite(n) => GraphError::Weights(n),
            // Whoever loads a file names it (`checkpoint `…`: …`): the reason alone.
            LoadError::Read { error, .. } => GraphError::Load(error.to_string()),
            e => GraphError::Load(e.to_string()),
        }
    }
}

/// Losses of one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepStats {
    pub loss: f64,
    pub base: f64,
    pub kd: f64,
    pub grad_norm: f64,
    /// Wall seconds of the forward pass with the losses, the backward pass, and the
    /// optimizer step with the EMA (each ends with a device-to-host read, so on CUDA the
    /// queued kernels are included).
    pub forward_s: f64,
    pub backward_s: f64,
    pub optimizer_s: f64,
}

/// A training batch on the host.
#[derive(Debug, Clone, Copy)]
pub struct HostBatch<'a> {
    /// `B×C×H×W`, normalised.
    pub images: &'a [f32],
    /// `B×K` soft targets (smoothing and mixing folded in).
    pub targets: &'a [f32],
    pub size: usize,
}

/// What the loop needs from a model, whatever its static shape.
pub trait Graph {
    fn classes(&self) -> usize;
    /// `(channels, image side)`.
    fn input(&self) -> (usize, usize);
    /// The device it runs on (`cpu`, `cuda`).
    fn device(&self) -> &'static str;
    fn num_params(&self) -> usize;
    /// One optimizer step at learning rate `lr`; `teacher` holds `B×K` teacher logits.
    fn train_step(
        &mut self,
        batch: HostBatch<'_>,
        teacher: Option<&[f32]>,
        lr: f64,
    ) -> Result<StepStats, GraphError>;
    /// Eval-mode logits `n×K` with the recipe's eval head (of the EMA weights if `ema`).
    fn eval_logits(&self, images: &[f32], n: usize, ema: bool) -> Result<Vec<f32>, GraphError>;
    fn has_ema(&self) -> bool;
    /// Model (`model.*`), EMA (`ema.*`) and optimizer (`opt.m.*`, `opt.v.*`) tensors: all of
    /// them, or the error that kept one from being read.
    fn state(&self) -> Result<Vec<Named>, GraphError>;
    /// Optimizer steps taken.
    fn steps(&self) -> u64;
    /// Restores what `state` saved (and the optimizer's step count).
    fn restore(&mut self, file: &TensorFile, steps: u64) -> Result<(), GraphError>;
    /// Loads model weights saved under `prefix` (e.g. a teacher checkpoint's `model.`).
    fn load_weights(&mut self, file: &TensorFile, prefix: &str) -> Result<(), GraphError>;
    /// Starts or stops the device's profiling range ([`Backend::profile`]).
    fn profile(&self, on: bool);
}

/// Loss and eval settings taken from the recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    pub mode: DistillMode,
    pub alpha: f64,
    pub tau: f64,
    pub eval_head: EvalHead,
    pub reg: Regularization,
    pub ema: Option<f64>,
    /// `train.seed`: with the step count, it fixes each step's stochastic-depth masks.
    pub seed: u64,
}

impl Hyper {
    pub fn of(r: &Recipe) -> Self {
        Hyper {
            mode: r.distill.mode,
            alpha: r.distill.alpha,
            tau: r.distill.tau,
            eval_head: r.distill.eval_head,
            reg: Regularization::of(&r.model),
            ema: r.train.ema,
            seed: r.train.seed,
        }
    }
}

/// A network of one static shape on one device, with its optimizer and EMA.
pub struct NetGraph<N, Dev: Backend, const K: usize> {
    pub model: N,
    pub ema: Option<N>,
    pub opt: Optimizer<Dev>,
    pub hyper: Hyper,
    dev: Dev,
}

impl<N: Net<K, Dev>, Dev: Backend, const K: usize> NetGraph<N, Dev, K> {
    /// A freshly initialised model (timm's init) from `seed` on a newly opened device.
    pub fn new(r: &Recipe, seed: u64) -> Result<Self, String> {
        let dev = Dev::open(seed)?;
        dev.set_precision(r.train.precision)?;
        let model = N::build(&dev);
        let ema = r.train.ema.map(|_| model.clone());
        Ok(NetGraph {
            model,
            ema,
            opt: Optimizer::new(&r.optimizer),
            hyper: Hyper::of(r),
            dev,
        })
    }

    /// The `n` images `(n, C, S, S)` on the device, checked to be `n` images.
    fn images(&self, images: &[f32], n: usize) -> Result<Images<Dev>, GraphError> {
        let (c, s) = (N::CHANNELS, N::IMAGE);
        check_len("images", n * c * s * s, images.len())?;
        let x = self.dev.try_tensor_from_vec(images.to_vec(), (n, c, s, s));
        x.map_err(device_error::<Dev>)
    }
}

impl<N: Net<K, Dev>, Dev: Backend, const K: usize> Graph for NetGraph<N, Dev, K> {
    fn classes(&self) -> usize {
        K
    }

    fn input(&self) -> (usize, usize) {
        (N::CHANNELS, N::IMAGE)
    }

    fn device(&self) -> &'static str {
        Dev::NAME
    }

    fn num_params(&self) -> usize {
        dfdx::nn::NumParams::num_trainable_params(&self.model)
    }

    fn train_step(
        &mut self,
        batch: HostBatch<'_>,
        teacher: Option<&[f32]>,
        lr: f64,
    ) -> Result<StepStats, GraphError> {
        let dev_err = device_error::<Dev>;
        let t0 = Instant::now();
        let b = batch.size;
        let x = self.images(batch.images, b)?; // (B, C, H, W)
        check_len("targets", b * K, batch.targets.len())?;
        if let Some(t) = teacher {
            check_len("teacher logits", b * K, t.len())?;
        }
        let mut reg = self.hyper.reg;
        reg.seed = step_seed(self.hyper.seed, self.opt.t);
        let out = self
            .model
            .forward_train(x.traced(self.model.alloc_grads()), reg)
            .map_err(dev_err)?;
        let targets = batch.targets.to_vec();
        let targets = self.dev.tensor_from_vec(targets, (b, Const::<K>)); // (B, K)

        // Without a distillation token the class token takes both losses (the paper's
        // "usual distillation", Table 3): a second handle on its output that shares its
        // gradient, whose tape merges with the first's when the losses are added.
        let dist = match (out.dist, self.hyper.mode) {
            (Some(d), _) => Some(d),
            (None, DistillMode::None) => None,
            (None, _) => Some(out.cls.retaped()),
        };
        let base = Dev::soft_ce(out.cls, targets).map_err(dev_err)?;
        // The losses are read back once, together, at the end of the step with the gradient
        // norm when the optimizer left it on the device: one device-to-host read per step
        // (CUDA's one synchronisation).
        let base_now = base.retaped::<NoneTape>();
        let alpha = self.hyper.alpha as f32;
        let (loss, kd_now) = match (self.hyper.mode, dist) {
            (DistillMode::None, _) | (_, None) => (base, None),
            (mode, Some(dist)) => {
                let t = teacher.ok_or(GraphError::NoTeacher)?;
                let t = self.dev.tensor_from_vec(t.to_vec(), (b, Const::<K>)); // (B, K)
                let kd = match mode {
                    DistillMode::Soft => Dev::soft_kd(dist, t, self.hyper.tau),
                    // The teacher's argmax one-hot, built where the logits are.
                    _ => Dev::hard_kd(dist, t),
                };
                let kd = kd.map_err(dev_err)?;
                let kd_now = kd.retaped::<NoneTape>();
                (base * (1.0 - alpha) + kd * alpha, Some(kd_now))
            }
        };
        let distilled = kd_now.is_some();
        let kd_now = kd_now.unwrap_or_else(|| base_now.clone());
        let losses = [base_now, kd_now, loss.retaped::<NoneTape>()]
            .try_stack()
            .map_err(dev_err)?; // (3,): [base, kd, loss]
        let forward_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut grads = loss.backward();
        let backward_s = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        // A step whose gradients are not finite is not applied (the host path checks the
        // norm, the device's kernels read it), so the model stays as it was on an error.
        let info =
            Dev::optimizer_step(&mut self.opt, &mut self.model, &mut grads, lr).map_err(dev_err)?;
        if let (Some(ema), Some(decay)) = (&mut self.ema, self.hyper.ema) {
            Dev::ema_update(ema, &self.model, decay).map_err(dev_err)?;
        }
        // The step's one read: the losses, and [Σg², clip] when the norm is on the device.
        let pending = self.opt.pending.take();
        let read = match pending {
            Some(norm) => (
                losses
                    .try_realize::<(usize,)>()
                    .map_err(|_| GraphError::Device("the losses' shape".into()))?,
                norm.try_realize::<(usize,)>()
                    .map_err(|_| GraphError::Device("the norm's shape".into()))?,
            )
                .try_concat_along(Axis::<0>)
                .map_err(dev_err)?
                .as_vec(), // [base, kd, loss, Σg², clip]
            None => losses.as_vec(),
        };
        let at = |i: usize| f64::from(read.get(i).copied().unwrap_or(f32::NAN));
        let [base_value, kd_value, value] = [0, 1, 2].map(at);
        let kd_value = if distilled { kd_value } else { 0.0 };
        let grad_norm = match read.len() {
            5 => at(3).sqrt(),
            _ => info.grad_norm,
        };
        if !value.is_finite() {
            return Err(GraphError::NonFinite { loss: value });
        }
        if !grad_norm.is_finite() {
            return Err(GraphError::NonFiniteGradient { norm: grad_norm });
        }
        Ok(StepStats {
            loss: value,
            base: base_value,
            kd: kd_value,
            grad_norm,
            forward_s,
            backward_s,
            optimizer_s: t2.elapsed().as_secs_f64(),
        })
    }

    fn eval_logits(&self, images: &[f32], n: usize, ema: bool) -> Result<Vec<f32>, GraphError> {
        let model = match (&self.ema, ema) {
            (Some(e), true) => e,
            _ => &self.model,
        };
        let logits = model.forward_eval(self.images(images, n)?, self.hyper.eval_head);
        Ok(logits.map_err(device_error::<Dev>)?.as_vec())
    }

    fn has_ema(&self) -> bool {
        self.ema.is_some()
    }

    fn profile(&self, on: bool) {
        self.dev.profile(on);
    }

    fn state(&self) -> Result<Vec<Named>, GraphError> {
        let mut out = collect(&self.model, "model.").map_err(device_error::<Dev>)?;
        if let Some(e) = &self.ema {
            out.extend(collect(e, "ema.").map_err(device_error::<Dev>)?);
        }
        for (name, s) in &self.opt.moments() {
            for (which, data) in [("m", &s.m), ("v", &s.v)] {
                if !data.is_empty() {
                    out.push(Named {
                        name: format!("opt.{which}.{name}"),
                        shape: vec![data.len()],
                        data: data.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn steps(&self) -> u64 {
        self.opt.t
    }

    fn restore(&mut self, file: &TensorFile, steps: u64) -> Result<(), GraphError> {
        self.model.load(file, "model.")?;
        if let Some(e) = &mut self.ema {
            e.load(file, "ema.")?;
        }
        self.opt.clear_moments();
        for key in file
            .keys()
            .filter(|k| k.starts_with("opt."))
            .map(str::to_string)
            .collect::<Vec<_>>()
        {
            let (_, data) = file.f32s(&key)?;
            check_finite(&key, &data).map_err(GraphError::Weights)?;
            let moment = |which| key.strip_prefix(which).filter(|name| !name.is_empty());
            let (m, v) = (moment("opt.m."), moment("opt.v."));
            let Some(name) = m.or(v) else {
                return Err(GraphError::Load(format!(
                    "`{key}` is not an optimizer moment (`opt.m.<name>` or `opt.v.<name>`)"
                )));
            };
            let s = self.opt.state.entry(name.to_string()).or_default();
            match m {
                Some(_) => s.m = data,
                None => s.v = data,
            }
        }
        self.opt.t = steps;
        Ok(())
    }

    fn load_weights(&mut self, file: &TensorFile, prefix: &str) -> Result<(), GraphError> {
        self.model.load(file, prefix)?;
        Ok(())
    }
}

/// A device error as a [`GraphError`].
fn device_error<Dev: Backend>(e: Dev::Err) -> GraphError {
    GraphError::Device(format!("{e:?}"))
}

/// An error unless a host buffer of `what` holds `want` values.
fn check_len(what: &'static str, want: usize, got: usize) -> Result<(), GraphError> {
    match want == got {
        true => Ok(()),
        false => Err(GraphError::Batch { what, want, got }),
    }
}

/// A well-mixed seed for optimizer step `step` (SplitMix64's finaliser).
fn step_seed(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
