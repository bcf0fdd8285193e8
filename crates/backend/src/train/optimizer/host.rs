//! The CPU's optimizer path: each parameter copied to the host (one `memcpy` each way), its
//! gradient read in place, the moments kept on the host, and the element-wise updates run
//! in parallel fixed chunks (the same bits for any thread count), AdamW's f64 arithmetic
//! compiled for the CPU's widest vectors.

use super::{Hyper, Moments, Optimizer, Path, StepInfo};
use crate::cpu::{simd, zeros, Kernel};
use crate::ir::{Optimizer as OptimizerIr, OptimizerKind};
use dfdx::nn::TensorCollection;
use dfdx::prelude::*;
use rayon::prelude::*;

/// Elements per parallel task of the element-wise updates.
const CHUNK: usize = 1 << 14;

impl Optimizer<Cpu> {
    /// One update of every parameter of `model` from `grads`, at learning rate `lr`, on
    /// host copies of the parameters.
    pub fn step_on_host<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, Cpu>,
        lr: f64,
    ) -> Result<StepInfo, CpuError> {
        self.run(model, grads, lr, Host { sum: 0.0 })
    }
}

/// A parameter's values by one copy of its buffer: parameters are row-major with a buffer
/// of exactly their size (checked in debug builds).
fn values<S: Shape>(t: &Tensor<S, f32, Cpu>) -> Vec<f32> {
    let mut v = zeros(t.shape().num_elements());
    t.copy_into(&mut v);
    debug_assert!(v == t.as_vec(), "optimizer::values on a strided tensor");
    v
}

/// `f` of the gradient of `t`, read in place (dfdx's `Gradients::get` would clone it).
fn with_grad<S: Shape, R>(
    grads: &mut Gradients<f32, Cpu>,
    t: &Tensor<S, f32, Cpu>,
    f: impl FnOnce(&[f32]) -> R,
) -> Result<R, CpuError> {
    let g: &[f32] = grads.get_or_alloc_mut(t)?;
    debug_assert_eq!(g.len(), t.shape().num_elements());
    Ok(f(g))
}

/// The CPU's path: host copies of each parameter, its gradient read in place, f64 sums.
pub(super) struct Host {
    pub sum: f64,
}

impl Path<Cpu> for Host {
    fn add_squares<S: Shape>(
        &mut self,
        grads: &mut Gradients<f32, Cpu>,
        t: &Tensor<S, f32, Cpu>,
    ) -> Result<(), CpuError> {
        self.sum += with_grad(grads, t, sum_squares)?;
        Ok(())
    }

    fn norm(&mut self) -> Result<Option<f64>, CpuError> {
        Ok(Some(self.sum.sqrt()))
    }

    fn update<S: Shape>(
        &mut self,
        opt: &mut Optimizer<Cpu>,
        grads: &mut Gradients<f32, Cpu>,
        t: &mut Tensor<S, f32, Cpu>,
        name: String,
        u: Hyper,
    ) -> Result<(), CpuError> {
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

/// Σ g² in f64: partial sums over fixed chunks (eight lanes each), added in order, so the
/// same bits for any thread count.
pub(super) fn sum_squares(g: &[f32]) -> f64 {
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
pub(super) fn adamw(
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
pub(super) fn sgd(
    p: &mut [f32],
    g: &[f32],
    scale: f32,
    s: &mut Moments,
    cfg: &OptimizerIr,
    lr: f64,
    wd: f64,
) {
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
    use crate::ir::NoDecay;

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
