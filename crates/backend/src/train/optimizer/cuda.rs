//! The optimizer step on the GPU with deitc's fused kernels (`cuda/optimizer.cu`), the
//! `Cuda` device's [`crate::device::Backend::optimizer_step`]: per parameter tensor, one
//! launch of Σg² partial sums and one AdamW (or SGD) launch that updates the parameter and
//! its moments in place; once per step, the partial sums are gathered and one launch turns
//! them into Σg² and the clipping factor on the device, which every update reads from
//! there. The host reads Σg² once (for the step's log). dfdx's tensor-op path runs about
//! fourteen kernels per tensor instead ([`super::device`]).
//!
//! The moments are the device path's ([`super::device::DeviceMoments`]), so checkpoints,
//! resume and the host copy are unchanged. The kernels' numerics are the simulator's, tested
//! against the host path in `cuda_parity.rs`.

use super::device::take;
use super::{Hyper, Optimizer, Path, StepInfo};
use crate::device::cuda::modules::{input, loaded, output, Loaded};
use crate::device::cuda::{alloc, invalid, not_loaded};
use crate::ir::OptimizerKind;
use cudarc::driver::{CudaSlice, DeviceSlice};
use deitc_kernels::launch::{self, AdamwArgs, SgdArgs};
use deitc_kernels::plan::{self, Flat};
use dfdx::nn::TensorCollection;
use dfdx::prelude::*;
use std::sync::Arc;

/// The fused path's state through one step.
struct Fused {
    /// The device and its kernels, from the first tensor visited.
    on: Option<(Cuda, Arc<Loaded>)>,
    max_norm: Option<f32>,
    /// Each visited tensor's partial sums of g², in visiting order.
    parts: Vec<CudaSlice<f32>>,
    /// `[Σg², clip factor]` on the device, once [`Path::norm`] has run.
    norm: Option<CudaSlice<f32>>,
}

/// A gradient or norm that should exist by now and does not: a bug in the step's order.
fn missing() -> CudaError {
    invalid()
}

impl Path<Cuda> for Fused {
    fn add_squares<S: Shape>(
        &mut self,
        grads: &mut Gradients<f32, Cuda>,
        t: &Tensor<S, f32, Cuda>,
    ) -> Result<(), CudaError> {
        grads.try_alloc_for(t)?;
        if self.on.is_none() {
            let kernels = loaded(t.device()).map_err(|_| not_loaded())?;
            self.on = Some((t.device().clone(), kernels));
        }
        let (dev, kernels) = self.on.as_ref().ok_or_else(missing)?;
        let g = grads.get_ref_checked(t).ok_or_else(missing)?;
        let mut part = alloc(dev, launch::sq_sum_parts(g.len()))?; // (parts,)
        kernels.run(plan::grad_sq_sum_partial(input(g), output(&mut part)))?;
        self.parts.push(part);
        Ok(())
    }

    fn norm(&mut self) -> Result<f64, CudaError> {
        // No trainable tensor: nothing to update either.
        let Some((dev, kernels)) = self.on.as_ref() else {
            return Ok(0.0);
        };
        let cuda = dev.cuda_device();
        let total: usize = self.parts.iter().map(|p| p.len()).sum();
        let mut all = alloc(dev, total)?; // (Σ parts,): every part is copied in
        let mut at = 0;
        for part in &self.parts {
            let mut dst = all.slice_mut(at..at + part.len());
            cuda.dtod_copy(part, &mut dst)?;
            at += part.len();
        }
        self.parts.clear();
        let mut out = alloc(dev, 2)?; // [Σg², clip]
        kernels.run(plan::grad_sq_sum_finish(
            input(&all),
            self.max_norm,
            output(&mut out),
        ))?;
        let host = cuda.dtoh_sync_copy(&out)?;
        self.norm = Some(out);
        Ok(f64::from(host.first().copied().unwrap_or(0.0)).sqrt())
    }

    fn update<S: Shape>(
        &mut self,
        opt: &mut Optimizer<Cuda>,
        grads: &mut Gradients<f32, Cuda>,
        t: &mut Tensor<S, f32, Cuda>,
        name: String,
        u: Hyper,
    ) -> Result<(), CudaError> {
        grads.try_alloc_for(t)?;
        let (cfg, step) = (&opt.cfg, opt.t);
        let adam = cfg.kind == OptimizerKind::Adamw;
        let (mut m, v, fresh) = take(&mut opt.state, &mut opt.device, &name, t, adam)?;
        let norm = self.norm.as_ref().ok_or_else(missing)?;
        let kernels = &self.on.as_ref().ok_or_else(missing)?.1;
        // The device's clipping factor (the same formula as the host's `clip_scale`).
        let clip = norm.slice(1..2);
        let g = grads.get_ref_checked(t).ok_or_else(missing)?;
        let v = match (cfg.kind, v) {
            (OptimizerKind::Adamw, Some(mut v)) => {
                let args = AdamwArgs::new(u.lr, cfg.betas, cfg.eps, u.decay, step);
                let flat = Flat {
                    p: output(t.data_mut()),
                    g: input(g),
                    decay_mask: None,
                    clip: Some(input(&clip)),
                };
                kernels.run(plan::adamw_step(
                    flat,
                    output(m.data_mut()),
                    output(v.data_mut()),
                    &args,
                ))?;
                Some(v)
            }
            (_, v) => {
                // SGD: the first step's buffer is the gradient itself (PyTorch's rule).
                let args = SgdArgs::new(u.lr, cfg.momentum, u.decay, fresh);
                let flat = Flat {
                    p: output(t.data_mut()),
                    g: input(g),
                    decay_mask: None,
                    clip: Some(input(&clip)),
                };
                kernels.run(plan::sgd_step(flat, output(m.data_mut()), &args))?;
                v
            }
        };
        opt.device.put(name, m, v)
    }
}

impl Optimizer<Cuda> {
    /// One update of every parameter of `model` from `grads` at learning rate `lr`, with the
    /// fused kernels (see the module's documentation).
    pub fn step_fused<M: TensorCollection<f32, Cuda>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, Cuda>,
        lr: f64,
    ) -> Result<StepInfo, CudaError> {
        let path = Fused {
            on: None,
            max_norm: self.cfg.clip_grad.map(|c| c as f32),
            parts: Vec::new(),
            norm: None,
        };
        self.run(model, grads, lr, path)
    }
}
