//! The optimizer step on the GPU with deitc's fused kernels (`cuda/optimizer.cu`), the
//! `Cuda` device's [`crate::device::Backend::optimizer_step`]: per parameter tensor, one
//! launch of Σg² partial sums (each tensor's written at its place in one buffer, sized by a
//! walk of the model first) and one AdamW (or SGD) launch that updates the parameter and its
//! moments in place; once per step, one launch turns the partial sums into Σg² and the
//! clipping factor on the device, which every update reads from there. The host reads Σg² once (for the step's log). dfdx's tensor-op path runs about
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
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorRef,
};
use dfdx::prelude::*;
use std::sync::Arc;

/// The fused path's state through one step.
struct Fused {
    /// The device and its kernels, from the first tensor visited.
    on: Option<(Cuda, Arc<Loaded>)>,
    max_norm: Option<f32>,
    /// How many partial sums of g² the step writes ([`parts_of`]), all into one buffer.
    parts_total: usize,
    /// That buffer, allocated at the first tensor, and how far it is written.
    parts: Option<CudaSlice<f32>>,
    at: usize,
    /// `[Σg², clip factor]` on the device, once [`Path::norm`] has run.
    norm: Option<CudaSlice<f32>>,
}

/// How many partial sums of g² a step over `model`'s trainable tensors writes: the tensors
/// [`Path::add_squares`] sees, in the same walk.
fn parts_of<M: TensorCollection<f32, Cuda>>(model: &M) -> Result<usize, CudaError> {
    let mut count = CountParts(0);
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut count,
    })?;
    Ok(count.0)
}

/// Sums `launch::sq_sum_parts` over the trainable tensors.
struct CountParts(usize);

impl TensorVisitor<f32, Cuda> for CountParts {
    type Viewer = ViewTensorRef;
    type Err = CudaError;
    type E2 = f32;
    type D2 = Cuda;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cuda>,
        t: &Tensor<S, f32, Cuda>,
    ) -> Result<Option<Tensor<S, f32, Cuda>>, Self::Err> {
        if opts.do_gradient_update {
            self.0 += launch::sq_sum_parts(t.shape().num_elements());
        }
        Ok(None)
    }
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
        // Every tensor's partial sums go to their place in one buffer (no copies).
        if self.parts.is_none() {
            self.parts = Some(alloc(dev, self.parts_total.max(1))?); // (Σ parts,)
        }
        let all = self.parts.as_mut().ok_or_else(missing)?;
        let n = launch::sq_sum_parts(g.len());
        if self.at + n > self.parts_total {
            return Err(missing()); // the count walked other tensors: a bug in deitc
        }
        let mut part = all.slice_mut(self.at..self.at + n); // (parts,)
        kernels.run(plan::grad_sq_sum_partial(input(g), output(&mut part)))?;
        self.at += n;
        Ok(())
    }

    fn norm(&mut self) -> Result<f64, CudaError> {
        // No trainable tensor: nothing to update either.
        let Some((dev, kernels)) = self.on.as_ref() else {
            return Ok(0.0);
        };
        let cuda = dev.cuda_device();
        let all = self.parts.take().ok_or_else(missing)?;
        if self.at != self.parts_total {
            return Err(missing()); // the count walked other tensors: a bug in deitc
        }
        let written = all.slice(0..self.at); // (Σ parts,)
        let mut out = alloc(dev, 2)?; // [Σg², clip]
        kernels.run(plan::grad_sq_sum_finish(
            input(&written),
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
            parts_total: parts_of(model)?,
            parts: None,
            at: 0,
            norm: None,
        };
        self.run(model, grads, lr, path)
    }
}
