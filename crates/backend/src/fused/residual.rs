//! Ops around a *branch* — a map of token rows `(N, D)` → `(N, D)` with its own backward,
//! such as the attention sublayer or the MLP — so that none of them needs a dfdx tensor
//! inside:
//! - `branch_op`: `f(x)`;
//! - `residual`: a pre-norm block's sublayer, `x + s_b · f(LayerNorm(x))`, with `s_b` the
//!   per-sample stochastic-depth scale (when there is one). It computes exactly what the
//!   fused LayerNorm, `branch_op`, per-sample scaling and dfdx's add compute in a row, in the
//!   same order, so it gives the same values; it skips their copies and allocations.

use dfdx::nn::modules::LayerNorm1D;
use dfdx::prelude::*;
use rayon::prelude::*;

use super::layer_norm::{ln_backward, ln_forward};
use crate::cpu::{add_into, copied, device_tensor, host};

/// A branch's backward: from the gradient of its output `(N, D)`, adds its parameters'
/// gradients into `grads` and returns the gradient of its input `(N, D)`.
pub(super) type BranchBackward =
    Box<dyn FnOnce(&[f32], &mut Gradients<f32, Cpu>) -> Result<Vec<f32>, CpuError>>;

/// A map of `rows` token rows, with host weights (CPU f32 only).
pub(crate) trait Branch {
    /// `x (rows, D)` → the output `(rows, D)`, and with `keep` the backward.
    fn run(self, x: Vec<f32>, rows: usize, keep: bool) -> (Vec<f32>, Option<BranchBackward>);
}

/// `branch(x)` for tokens `x (B, T, D)`.
#[allow(clippy::type_complexity)]
pub(crate) fn branch_op<B: Dim, Tok: Dim, const D: usize, T: Tape<f32, Cpu>>(
    x: Tensor<(B, Tok, Const<D>), f32, Cpu, T>,
    branch: impl Branch,
) -> Result<Tensor<(B, Tok, Const<D>), f32, Cpu, T>, CpuError> {
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let (b, t, _) = *x.shape();
    let (y, backward) = branch.run(host(&x), b.size() * t.size(), T::OWNS_TAPE);
    let out = device_tensor(x.device(), y, (b, t, Const::<D>))?;
    if let Some(backward) = backward {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            let g = std::mem::take(grad_mut!(grads, out_g));
            let dx = backward(&g, grads)?;
            add_into(grad_mut!(grads, x_g), &dx);
            *grad_mut!(grads, out_g) = g;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// `x + s_b · branch(norm(x))` for tokens `x (B, T, D)`, B·T > 0, with `scales` the
/// per-sample stochastic-depth scales `s_b` (none: 1); B·T·D > 0 (the caller checks).
#[allow(clippy::type_complexity)]
pub(crate) fn residual<Tok: Dim, const D: usize, T: Tape<f32, Cpu>>(
    norm: &LayerNorm1D<D, f32, Cpu>,
    x: Tensor<(usize, Tok, Const<D>), f32, Cpu, T>,
    scales: Option<Vec<f32>>,
    branch: impl Branch,
) -> Result<Tensor<(usize, Tok, Const<D>), f32, Cpu, T>, CpuError> {
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let shape = *x.shape();
    let per_sample = shape.1.size() * D;
    assert!(shape.0 > 0 && per_sample > 0, "residual: B·T > 0");
    let xh = host(&x); // (B, T, D)
    let gamma = host(&norm.gamma); // (D,)
    let beta = host(&norm.beta); // (D,)
    let ln = ln_forward(&xh, &gamma, &beta, D, norm.epsilon as f32, T::OWNS_TAPE);
    let (mut y, backward) = branch.run(ln.y, shape.0 * shape.1.size(), T::OWNS_TAPE);
    let scale = |b: usize| scales.as_ref().map(|s| s[b]);
    y.par_chunks_mut(per_sample)
        .zip(xh.par_chunks(per_sample))
        .enumerate()
        .for_each(|(b, (y, x))| match scale(b) {
            Some(s) => y.iter_mut().zip(x).for_each(|(v, &x)| *v = *v * s + x),
            None => y.iter_mut().zip(x).for_each(|(v, &x)| *v += x),
        });
    drop(xh);
    let out = device_tensor(x.device(), y, shape)?;
    if let Some(backward) = backward {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let (gamma_g, beta_g) = (norm.gamma.ghost(), norm.beta.ghost());
        let (xhat, rstd) = (ln.xhat, ln.rstd);
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&gamma_g)?;
            grads.try_alloc_for(&beta_g)?;
            let g = std::mem::take(grad_mut!(grads, out_g));
            add_into(grad_mut!(grads, x_g), &g); // the residual path
            let mut dbranch = copied(&g);
            if let Some(scales) = &scales {
                dbranch
                    .par_chunks_mut(per_sample)
                    .zip(scales)
                    .for_each(|(d, &s)| d.iter_mut().for_each(|v| *v *= s));
            }
            let dy = backward(&dbranch, grads)?;
            let (dgamma, dbeta) = ln_backward(&dy, &xhat, &rstd, &gamma, grad_mut!(grads, x_g));
            add_into(grad_mut!(grads, gamma_g), &dgamma);
            add_into(grad_mut!(grads, beta_g), &dbeta);
            *grad_mut!(grads, out_g) = g;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::{attention, layer_norm, mlp, scale_samples, AttentionBranch, MlpBranch};
    use dfdx::nn::modules::Linear;

    const D: usize = 12;

    /// Stochastic-depth scales for `b` samples at rate `drop` (none at 0): a fixed pattern
    /// of kept (`1 / (1 − drop)`) and dropped (0) samples, shifted by `salt`.
    fn scales(drop: f64, salt: usize, b: usize) -> Option<Vec<f32>> {
        let keep = (1.0 / (1.0 - drop)) as f32;
        (drop > 0.0).then(|| {
            (0..b)
                .map(|i| {
                    if (i + salt).is_multiple_of(3) {
                        0.0
                    } else {
                        keep
                    }
                })
                .collect()
        })
    }

    /// `y` scaled per sample by `s` (when there are scales).
    fn scaled<T: Tape<f32, Cpu>>(y: X<T>, s: Option<Vec<f32>>) -> X<T> {
        match s {
            Some(s) => scale_samples(y, s).expect("scale"),
            None => y,
        }
    }
    type X<T> = Tensor<(usize, Const<7>, Const<D>), f32, Cpu, T>;

    struct Params {
        norm: LayerNorm1D<D, f32, Cpu>,
        qkv: Linear<D, 36, f32, Cpu>,
        proj: Linear<D, D, f32, Cpu>,
        fc1: Linear<D, 40, f32, Cpu>,
        fc2: Linear<40, D, f32, Cpu>,
    }

    /// y, then the gradients of x and of every parameter, after `passes` accumulated passes
    /// of both sublayers of a block, as two `residual` ops or as the chain of ops they fuse.
    fn run(fused_ops: bool, drop: f64, passes: usize) -> Vec<Vec<f32>> {
        let dev = Cpu::seed_from_u64(41);
        let p = Params {
            norm: LayerNorm1D {
                gamma: dev.sample_normal(),
                beta: dev.sample_normal(),
                epsilon: 1e-6,
            },
            qkv: Linear {
                weight: dev.sample_normal::<Rank2<36, D>>() * 0.4,
                bias: dev.sample_normal(),
            },
            proj: Linear {
                weight: dev.sample_normal(),
                bias: dev.sample_normal(),
            },
            fc1: Linear {
                weight: dev.sample_normal(),
                bias: dev.sample_normal(),
            },
            fc2: Linear {
                weight: dev.sample_normal(),
                bias: dev.sample_normal(),
            },
        };
        let b = 6;
        let x: X<NoneTape> = dev.sample_normal_like(&(b, Const, Const));
        let w: X<NoneTape> = dev.sample_normal_like(&(b, Const, Const));
        let mut grads = Gradients::leaky();
        let mut y = Vec::new();
        for _ in 0..passes {
            let xt = x.trace(grads);
            let o = if fused_ops {
                let attn = AttentionBranch {
                    qkv: &p.qkv,
                    proj: &p.proj,
                    heads: 3,
                    scale: 0.5,
                    batch: b,
                };
                let x1 = residual(&p.norm, xt, scales(drop, 5, b), attn).expect("attn");
                let m = MlpBranch {
                    fc1: &p.fc1,
                    fc2: &p.fc2,
                };
                residual(&p.norm, x1, scales(drop, 6, b), m).expect("mlp")
            } else {
                let (x0, tape) = xt.split_tape();
                let h = layer_norm(&p.norm, x0.clone().put_tape(tape)).expect("norm");
                let h = attention(&p.qkv, &p.proj, h, 3, 0.5).expect("attn");
                let x1 = scaled(h, scales(drop, 5, b)).try_add(x0).expect("add");
                let (x1, tape) = x1.split_tape();
                let h = layer_norm(&p.norm, x1.clone().put_tape(tape)).expect("norm");
                let h = mlp(&p.fc1, &p.fc2, h).expect("mlp");
                scaled(h, scales(drop, 6, b)).try_add(x1).expect("add")
            };
            y = o.as_vec();
            grads = (o * w.clone()).sum().backward();
        }
        let mut out = vec![y, grads.get(&x).as_vec()];
        out.extend([
            grads.get(&p.norm.gamma).as_vec(),
            grads.get(&p.norm.beta).as_vec(),
        ]);
        out.extend([
            grads.get(&p.qkv.weight).as_vec(),
            grads.get(&p.qkv.bias).as_vec(),
            grads.get(&p.proj.weight).as_vec(),
            grads.get(&p.proj.bias).as_vec(),
            grads.get(&p.fc1.weight).as_vec(),
            grads.get(&p.fc1.bias).as_vec(),
            grads.get(&p.fc2.weight).as_vec(),
            grads.get(&p.fc2.bias).as_vec(),
        ]);
        out
    }

    #[test]
    fn residual_sublayers_give_the_values_of_the_ops_they_fuse() {
        for (drop, passes) in [(0.0, 1), (0.0, 2), (0.5, 1), (0.5, 2)] {
            let (a, b) = (run(true, drop, passes), run(false, drop, passes));
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                assert_eq!(a, b, "output {i}, drop {drop}, passes {passes}");
            }
        }
    }
}
