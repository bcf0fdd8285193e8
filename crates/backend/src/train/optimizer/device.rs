//! The optimizer step as dfdx tensor ops on the parameters' own device (the default of
//! [`crate::device::Backend::optimizer_step`]): the moments live there as tensors, and
//! nothing crosses to the host but the squared gradient norm (one scalar per step). The
//! arithmetic is the host path's ([`super::host`]) in f32:
//! `p ← (1 − lr·wd)·p − lr/bc₁ · m / (√v / √bc₂ + ε)` for AdamW,
//! `b ← μ·b + (s·g + wd·p)`, `p ← p − lr·b` for SGD.
//!
//! Each moment is kept flat, `(n,)`, and reshaped to its parameter's shape for the update:
//! a reshape of a contiguous tensor is a view of the same buffer, so the update runs in place.

use super::{Hyper, Optimizer, Path};
use crate::ir::OptimizerKind;
use dfdx::prelude::*;
use std::collections::BTreeMap;

/// A moment buffer of one parameter, flat, on the device.
type Flat<D> = Tensor<(usize,), f32, D>;

/// A parameter's moments on its device: AdamW's `m` and `v`, or SGD's momentum buffer in `m`.
pub(super) struct Moments<D: Device<f32>> {
    m: Flat<D>,
    v: Option<Flat<D>>,
}

/// Every parameter's moments on the device, by timm name.
pub struct DeviceMoments<D: Device<f32>>(BTreeMap<String, Moments<D>>);

impl<D: Device<f32>> Default for DeviceMoments<D> {
    fn default() -> Self {
        DeviceMoments(BTreeMap::new())
    }
}

impl<D: Device<f32>> DeviceMoments<D> {
    /// Keeps parameter `name`'s moments, shaped like it, flat (views of the same buffers).
    pub(super) fn put<S: Shape>(
        &mut self,
        name: String,
        m: Tensor<S, f32, D>,
        v: Option<Tensor<S, f32, D>>,
    ) -> Result<(), D::Err> {
        let n = m.shape().num_elements();
        let v = match v {
            Some(v) => Some(v.try_reshape_like(&(n,))?),
            None => None,
        };
        let m = m.try_reshape_like(&(n,))?;
        self.0.insert(name, Moments { m, v });
        Ok(())
    }

    /// Each parameter's moments copied to the host.
    pub(super) fn to_host(&self) -> impl Iterator<Item = (String, super::Moments)> + '_ {
        self.0.iter().map(|(name, s)| {
            let host = super::Moments {
                m: s.m.as_vec(),
                v: s.v.as_ref().map(|v| v.as_vec()).unwrap_or_default(),
            };
            (name.clone(), host)
        })
    }
}

impl<D: Device<f32>> Clone for DeviceMoments<D> {
    fn clone(&self) -> Self {
        let copy = |s: &Moments<D>| Moments {
            m: s.m.clone(),
            v: s.v.clone(),
        };
        DeviceMoments(self.0.iter().map(|(k, s)| (k.clone(), copy(s))).collect())
    }
}

impl<D: Device<f32>> PartialEq for DeviceMoments<D> {
    fn eq(&self, other: &Self) -> bool {
        self.to_host().eq(other.to_host())
    }
}

impl<D: Device<f32>> std::fmt::Debug for DeviceMoments<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceMoments({} parameters)", self.0.len())
    }
}

/// The device path: tensor ops on the device, the squared norm summed there into one
/// scalar tensor.
pub(super) struct OnDevice<D: Device<f32>> {
    pub sum: Option<Tensor<(), f32, D>>,
}

impl<D: Device<f32>> Path<D> for OnDevice<D> {
    fn add_squares<S: Shape>(
        &mut self,
        grads: &mut Gradients<f32, D>,
        t: &Tensor<S, f32, D>,
    ) -> Result<(), D::Err> {
        grads.try_alloc_for(t)?;
        let sq = grads.get(t).try_square()?.try_sum::<(), _>()?; // ()
        self.sum = Some(match self.sum.take() {
            Some(acc) => acc.try_add(sq)?,
            None => sq,
        });
        Ok(())
    }

    fn norm(&mut self) -> Result<Option<f64>, D::Err> {
        let sum = self.sum.as_ref().map(|s| s.as_vec());
        let sum = sum.and_then(|v| v.first().copied()).unwrap_or(0.0);
        Ok(Some(f64::from(sum).sqrt()))
    }

    fn update<S: Shape>(
        &mut self,
        opt: &mut Optimizer<D>,
        grads: &mut Gradients<f32, D>,
        t: &mut Tensor<S, f32, D>,
        name: String,
        u: Hyper,
    ) -> Result<(), D::Err> {
        grads.try_alloc_for(t)?;
        let mut g = grads.get(t); // (S)
        if u.scale != 1.0 {
            g = g.try_mul(u.scale)?;
        }
        let (cfg, step) = (&opt.cfg, opt.t);
        let adam = cfg.kind == OptimizerKind::Adamw;
        let (mut m, v, fresh) = take(&mut opt.state, &mut opt.device, &name, t, adam)?;
        let v = match (cfg.kind, v) {
            (OptimizerKind::Adamw, Some(mut v)) => {
                let [b1, b2] = cfg.betas;
                let sqrt_bc2 = (1.0 - b2.powi(step as i32)).sqrt();
                let step_size = u.lr / (1.0 - b1.powi(step as i32));
                m.try_axpy(b1, &g, 1.0 - b1)?;
                v.try_axpy(b2, &g.try_square()?, 1.0 - b2)?;
                let denom = v
                    .clone()
                    .try_sqrt()?
                    .try_mul((1.0 / sqrt_bc2) as f32)?
                    .try_add(cfg.eps as f32)?;
                let update = m.clone().try_div(denom)?;
                t.try_axpy(1.0 - u.lr * u.decay, &update, -step_size)?;
                Some(v)
            }
            (_, v) => {
                // SGD: the first step's buffer is the gradient itself (PyTorch's rule).
                g.try_axpy(1.0, &*t, u.decay)?;
                if fresh {
                    m = g;
                } else {
                    m.try_axpy(cfg.momentum, &g, 1.0)?;
                }
                t.try_axpy(1.0, &m, -u.lr)?;
                v
            }
        };
        opt.device.put(name, m, v)
    }
}

/// A parameter's moments shaped like `t`, taken out of the device map, and whether they
/// are new. When the map has none that fit (one per element, and `v` exactly for AdamW)
/// they come from the host state a checkpoint restored, else they are zeros.
#[allow(clippy::type_complexity)]
pub(super) fn take<S: Shape, D: Device<f32>>(
    host: &mut BTreeMap<String, super::Moments>,
    device: &mut DeviceMoments<D>,
    name: &str,
    t: &Tensor<S, f32, D>,
    adam: bool,
) -> Result<(Tensor<S, f32, D>, Option<Tensor<S, f32, D>>, bool), D::Err> {
    let (n, shape) = (t.shape().num_elements(), *t.shape());
    let fits = |s: &Moments<D>| {
        s.m.shape().0 == n && s.v.as_ref().map(|v| v.shape().0) == adam.then_some(n)
    };
    if let Some(s) = device.0.remove(name).filter(fits) {
        let v = match s.v {
            Some(v) => Some(v.try_reshape_like(&shape)?),
            None => None,
        };
        return Ok((s.m.try_reshape_like(&shape)?, v, false));
    }
    let upload = |data: Option<Vec<f32>>| -> Result<Tensor<S, f32, D>, D::Err> {
        match data {
            Some(d) if d.len() == n => t.device().try_tensor_from_vec(d, shape),
            _ => t.device().try_zeros_like(&shape),
        }
    };
    let (m, v) = match host.remove(name) {
        Some(s) => (Some(s.m).filter(|m| !m.is_empty()), Some(s.v)),
        None => (None, None),
    };
    let restored_m = m.is_some();
    let v = if adam { Some(upload(v)?) } else { None };
    Ok((upload(m)?, v, !restored_m))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::Optimizer;
    use crate::ir::{NoDecay, Optimizer as OptimizerIr, OptimizerKind};
    use dfdx::nn::modules::Linear;
    use dfdx::prelude::*;

    type Net = (Linear<6, 5, f32, Cpu>, Linear<5, 3, f32, Cpu>);
    type Arch = (
        dfdx::nn::builders::Linear<6, 5>,
        dfdx::nn::builders::Linear<5, 3>,
    );

    /// The optimizer settings the device and host paths are compared under.
    pub(in crate::train::optimizer) fn cfg(
        kind: OptimizerKind,
        clip_grad: Option<f64>,
    ) -> OptimizerIr {
        OptimizerIr {
            kind,
            lr: 1e-2,
            betas: [0.9, 0.999],
            eps: 1e-8,
            momentum: 0.9,
            weight_decay: 0.05,
            no_decay: vec![NoDecay::Bias],
            clip_grad,
        }
    }

    /// Every parameter's values, in visiting order.
    fn values(net: &Net) -> Vec<f32> {
        let named = crate::train::tensor_io::collect(net, "").expect("collect");
        named.into_iter().flat_map(|t| t.data).collect()
    }

    /// Gradients of a random loss at step `k` (the same for both paths).
    fn grads(net: &Net, k: u64) -> Gradients<f32, Cpu> {
        let dev = Cpu::seed_from_u64(100 + k);
        let x: Tensor<Rank2<7, 6>, f32, Cpu> = dev.sample_normal();
        let w: Tensor<Rank2<7, 3>, f32, Cpu> = dev.sample_normal();
        let y = net.forward(x.leaky_trace());
        (y * w).sum().backward()
    }

    fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{what}[{i}]: device {x} vs host {y}"
            );
        }
    }

    #[test]
    fn device_steps_match_host_steps() {
        for kind in [OptimizerKind::Adamw, OptimizerKind::Sgd] {
            for clip in [None, Some(0.05)] {
                let dev = Cpu::seed_from_u64(7);
                let mut host_net: Net = dev.build_module::<Arch, f32>();
                let mut dev_net = host_net.clone();
                let (mut host, mut device) = (
                    Optimizer::new(&cfg(kind, clip)),
                    Optimizer::new(&cfg(kind, clip)),
                );
                for k in 0..4 {
                    let mut g = grads(&host_net, k);
                    let a = host
                        .step_on_host(&mut host_net, &mut g, 1e-2)
                        .expect("host");
                    let mut g = grads(&dev_net, k);
                    let b = device.step_on_device(&mut dev_net, &mut g, 1e-2);
                    let b = b.expect("device");
                    let what = format!("{kind:?} clip {clip:?} step {k}");
                    assert!((a.grad_norm - b.grad_norm).abs() <= 1e-5 * a.grad_norm);
                    assert!((a.clip_scale - b.clip_scale).abs() <= 1e-5, "{what}");
                    close(&what, &values(&dev_net), &values(&host_net), 2e-6);
                }
                assert!(device.state.is_empty(), "moments live on the device");
                let (h, d) = (host.moments(), device.moments());
                assert_eq!(h.len(), d.len());
                for ((hn, hs), (dn, ds)) in h.iter().zip(&d) {
                    assert_eq!(hn, dn);
                    close(&format!("{hn}.m"), &ds.m, &hs.m, 1e-5);
                    close(&format!("{hn}.v"), &ds.v, &hs.v, 1e-5);
                }
            }
        }
    }

    #[test]
    fn a_step_with_a_non_finite_gradient_is_not_applied() {
        // Both paths: a NaN or infinite gradient leaves the parameters, the moments and the
        // step count as they were, and reports the norm.
        for bad in [f32::NAN, f32::INFINITY] {
            for kind in [OptimizerKind::Adamw, OptimizerKind::Sgd] {
                let dev = Cpu::seed_from_u64(11);
                let mut net: Net = dev.build_module::<Arch, f32>();
                let mut opt = Optimizer::new(&cfg(kind, Some(1.0)));
                let mut g = grads(&net, 0);
                opt.step_on_host(&mut net, &mut g, 1e-2)
                    .expect("a good step");
                let (before, moments, t) = (values(&net), opt.moments(), opt.t);
                for on_host in [true, false] {
                    let mut g = grads(&net, 1);
                    g.get_mut(&net.0.weight).as_mut_slice()[3] = bad;
                    let info = match on_host {
                        true => opt.step_on_host(&mut net, &mut g, 1e-2),
                        false => opt.step_on_device(&mut net, &mut g, 1e-2),
                    }
                    .expect("step");
                    let what = format!("{bad} {kind:?} host {on_host}");
                    assert!(!info.grad_norm.is_finite(), "{what}");
                    assert_eq!(values(&net), before, "{what}");
                    assert_eq!(opt.moments(), moments, "{what}");
                    assert_eq!(opt.t, t, "{what}");
                }
            }
        }
    }

    #[test]
    fn restored_moments_continue_on_the_device_exactly() {
        for kind in [OptimizerKind::Adamw, OptimizerKind::Sgd] {
            let dev = Cpu::seed_from_u64(8);
            let mut net: Net = dev.build_module::<Arch, f32>();
            let mut opt = Optimizer::new(&cfg(kind, Some(0.05)));
            for k in 0..2 {
                let mut g = grads(&net, k);
                opt.step_on_device(&mut net, &mut g, 1e-2).expect("step");
            }
            // What a checkpoint saves and restores.
            let mut resumed = Optimizer::new(&cfg(kind, Some(0.05)));
            resumed.state = opt.moments().into_iter().collect();
            resumed.t = opt.t;
            let mut net2 = net.clone();
            let mut g = grads(&net, 2);
            opt.step_on_device(&mut net, &mut g, 1e-2).expect("step");
            let mut g = grads(&net2, 2);
            resumed
                .step_on_device(&mut net2, &mut g, 1e-2)
                .expect("step");
            assert_eq!(values(&net), values(&net2), "{kind:?}");
            assert_eq!(opt.moments(), resumed.moments(), "{kind:?}");
            assert_eq!(opt.device, resumed.device);
        }
    }

    #[test]
    fn a_parameter_without_a_gradient_only_decays() {
        let dev = Cpu::seed_from_u64(9);
        let mut net: Net = dev.build_module::<Arch, f32>();
        let before = values(&net);
        let mut opt = Optimizer::new(&cfg(OptimizerKind::Adamw, None));
        let info = opt
            .step_on_device(&mut net, &mut Gradients::leaky(), 1e-2)
            .expect("step");
        assert_eq!(info.grad_norm, 0.0);
        let after = values(&net);
        // Weights shrink by (1 − lr·wd); biases (no decay) stay.
        let (w0, b0) = (6 * 5, 5);
        close(
            "weight",
            &after[..w0],
            &before[..w0]
                .iter()
                .map(|v| v * (1.0 - 1e-2 * 0.05))
                .collect::<Vec<_>>(),
            1e-7,
        );
        assert_eq!(after[w0..w0 + b0], before[w0..w0 + b0]);
    }
}
