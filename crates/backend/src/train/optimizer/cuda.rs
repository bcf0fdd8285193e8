//! The optimizer step on the GPU with deitc's fused kernels (`cuda/optimizer.cu`), the
//! `Cuda` device's [`crate::device::Backend::optimizer_step`]: one launch of Σg² partial
//! sums over every gradient (`grad_sq_sum_multi`), one that turns them into Σg² and the
//! clipping factor on the device, which the updates read from there, and one AdamW launch
//! updating every parameter and its moments in place (`adamw_multi`), each from a table of
//! the tensors' buffers recorded by a walk and copied to the device once; SGD runs one
//! launch per tensor.
//! Σg² and the factor stay on the device ([`Optimizer::pending`]): the step's one read takes
//! Σg² with the losses, and a step whose Σg² is not finite is skipped by the update kernels
//! themselves. dfdx's tensor-op path runs about fourteen kernels per tensor instead
//! ([`super::device`]).
//!
//! The moments are the device path's ([`super::device::DeviceMoments`]), so checkpoints,
//! resume and the host copy are unchanged. The kernels' numerics are the simulator's, tested
//! against the host path in `cuda_parity.rs`.

use super::device::take;
use super::{Hyper, Optimizer, Path, StepInfo};
use crate::device::cuda::modules::{input, input_bytes, loaded, output, Loaded};
use crate::device::cuda::{alloc, invalid, not_loaded, wrap, Buf};
use crate::ir::OptimizerKind;
use cudarc::driver::{DevicePtr, DeviceSlice};
use deitc_kernels::launch::{AdamwArgs, SgdArgs};
use deitc_kernels::plan::{self, AdamwTensor, Flat};
use dfdx::nn::TensorCollection;
use dfdx::prelude::*;
use std::sync::Arc;

/// The fused path's state through one step.
struct Fused {
    /// The device and its kernels, from the first tensor visited.
    on: Option<(Cuda, Arc<Loaded>)>,
    max_norm: Option<f32>,
    /// Every gradient's address and length, for the one launch of partial sums in
    /// [`Path::norm`].
    grads: Vec<(u64, usize)>,
    /// `[Σg², clip factor]` on the device, once [`Path::norm`] has run.
    norm: Option<Buf<f32>>,
    /// AdamW: every tensor's buffers and factors, updated by one launch in [`Path::finish`].
    adamw: Vec<AdamwTensor>,
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
        // Recorded for the one launch of partial sums in `norm`: the gradient stays where it
        // is until the step ends.
        let g = grads.get_ref_checked(t).ok_or_else(missing)?;
        self.grads.push((*g.device_ptr(), g.len()));
        Ok(())
    }

    fn norm(&mut self) -> Result<Option<f64>, CudaError> {
        // No trainable tensor: nothing to update either.
        let Some((dev, kernels)) = self.on.as_ref() else {
            return Ok(Some(0.0));
        };
        let cuda = dev.cuda_device();
        // One launch of every gradient's partial sums (the table copied once), in order.
        let table = plan::sum_table(&self.grads).map_err(|_| invalid())?;
        self.grads.clear();
        let chunks_at = table.chunks_at;
        let n_parts = table.chunks;
        let bytes = cuda.htod_copy(table.bytes)?; // slots | chunks
        let (slots, chunks) = (bytes.slice(0..chunks_at), bytes.slice(chunks_at..));
        let mut written = alloc(dev, n_parts)?; // (Σ parts,): at least one per gradient
        kernels.run(plan::grad_sq_sum_multi(
            input_bytes(&slots),
            input_bytes(&chunks),
            output(&mut written),
        ))?;
        let mut out = alloc(dev, 2)?; // [Σg², clip]
        kernels.run(plan::grad_sq_sum_finish(
            input(&written),
            self.max_norm,
            output(&mut out),
        ))?;
        // Left on the device: the updates read the clip factor there, and the step's one
        // read takes Σg² with the losses (`pending`).
        self.norm = Some(out);
        Ok(None)
    }

    fn pending(&mut self) -> Result<Option<Tensor<Rank1<2>, f32, Cuda>>, CudaError> {
        match (self.norm.take(), self.on.as_ref()) {
            (Some(out), Some((dev, _))) => Ok(Some(wrap(dev, (Const::<2>,), out)?)),
            _ => Ok(None),
        }
    }

    /// One `adamw_multi` launch over every tensor recorded by `update`: the table copied to
    /// the device (one host-to-device copy), the clip factor read there.
    fn finish(&mut self, opt: &Optimizer<Cuda>) -> Result<(), CudaError> {
        if self.adamw.is_empty() {
            return Ok(());
        }
        let (dev, kernels) = self.on.as_ref().ok_or_else(missing)?;
        let norm = self.norm.as_ref().ok_or_else(missing)?;
        let table = plan::adamw_table(&self.adamw).map_err(|_| invalid())?;
        self.adamw.clear();
        let chunks_at = table.chunks_at;
        let bytes = dev.cuda_device().htod_copy(table.bytes)?; // slots | chunks
        let (slots, chunks) = (bytes.slice(0..chunks_at), bytes.slice(chunks_at..));
        let clip = norm.slice(1..2);
        // The shared constants (β's, √bc₂, ε); decay and step size are each tensor's.
        let shared = AdamwArgs::new(0.0, opt.cfg.betas, opt.cfg.eps, 0.0, opt.t);
        kernels.run(plan::adamw_multi(
            input_bytes(&slots),
            input_bytes(&chunks),
            Some(input(&clip)),
            &shared,
        ))
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
        // `norm` has run: both updates read its clipping factor on the device.
        let norm = self.norm.as_ref().ok_or_else(missing)?;
        let g = grads.get_ref_checked(t).ok_or_else(missing)?;
        let v = match (cfg.kind, v) {
            (OptimizerKind::Adamw, Some(mut v)) => {
                // Recorded for the step's one launch (`finish`): the buffers stay where they
                // are (the moments move into `opt.device` as tensors, not as memory).
                self.adamw.push(AdamwTensor {
                    p: *t.data_mut().device_ptr(),
                    g: *g.device_ptr(),
                    m: *m.data_mut().device_ptr(),
                    v: *v.data_mut().device_ptr(),
                    n: g.len(),
                    args: AdamwArgs::new(u.lr, cfg.betas, cfg.eps, u.decay, step),
                });
                Some(v)
            }
            (_, v) => {
                // SGD: the first step's buffer is the gradient itself (PyTorch's rule).
                let kernels = &self.on.as_ref().ok_or_else(missing)?.1;
                // The device's clipping factor (the same formula as the host's `clip_scale`).
                let clip = norm.slice(1..2);
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
            grads: Vec::new(),
            norm: None,
            adamw: Vec::new(),
        };
        self.run(model, grads, lr, path)
    }
}
