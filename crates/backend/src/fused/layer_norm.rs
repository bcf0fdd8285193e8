//! LayerNorm over the last axis of tokens `(B, T, M)` as one op with a hand-written
//! backward: per row μ, σ = √(var + eps), x̂ = (x − μ)/σ, y = x̂·γ + β, with x̂ and 1/σ kept
//! for the backward `dx += (1/σ)·(g·γ − mean(g·γ) − x̂·mean(g·γ·x̂))`, `dγ = Σ g·x̂`,
//! `dβ = Σ g`. The γ/β sums are taken over fixed chunks of rows whose partial sums are added
//! in order, so results are the same for any number of threads.

use dfdx::nn::modules::LayerNorm1D;
use dfdx::prelude::*;
use rayon::prelude::*;

use crate::cpu::{add_into, device_tensor, dot, host, simd, sum, zeros, Kernel, CHUNK_ROWS};

/// LayerNorm over the last axis of `(B, T, M)` with `norm`'s γ, β and epsilon. `M > 0`
/// (the caller checks).
#[allow(clippy::type_complexity)]
pub(crate) fn layer_norm<B: Dim, Tok: Dim, const M: usize, T: Tape<f32, Cpu>>(
    norm: &LayerNorm1D<M, f32, Cpu>,
    x: Tensor<(B, Tok, Const<M>), f32, Cpu, T>,
) -> Result<Tensor<(B, Tok, Const<M>), f32, Cpu, T>, CpuError> {
    // Gradients are stored in the input's memory layout: make it row-major (free when it
    // already is; a strided input is copied by dfdx's `contiguous`, with its backward).
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let shape = *x.shape();
    let xs = host(&x); // (B, T, M)
    let gamma = host(&norm.gamma); // (M,)
    let beta = host(&norm.beta); // (M,)
    let fwd = ln_forward(&xs, &gamma, &beta, M, norm.epsilon as f32, T::OWNS_TAPE);
    drop(xs);
    let out = device_tensor(x.device(), fwd.y, shape)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let (gamma_g, beta_g) = (norm.gamma.ghost(), norm.beta.ghost());
        let (xhat, rstd) = (fwd.xhat, fwd.rstd);
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&gamma_g)?;
            grads.try_alloc_for(&beta_g)?;
            with_out_grad!(grads, out_g, |g| {
                let (dgamma, dbeta) = ln_backward(&g, &xhat, &rstd, &gamma, grad_mut!(grads, x_g));
                add_into(grad_mut!(grads, gamma_g), &dgamma);
                add_into(grad_mut!(grads, beta_g), &dbeta);
            });
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// What the LayerNorm forward produces: `y`, and for the backward x̂ and 1/σ per row.
pub(super) struct LnForward {
    pub y: Vec<f32>,
    pub xhat: Vec<f32>,
    pub rstd: Vec<f32>,
}

/// Per row of width `m`: μ, σ = √(var + eps), x̂ = (x − μ)/σ, y = x̂·γ + β. x̂ and 1/σ are
/// kept only when `keep` (a backward pass will follow).
pub(super) fn ln_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    m: usize,
    eps: f32,
    keep: bool,
) -> LnForward {
    let rows = x.len() / m;
    let mut y = zeros(x.len());
    let mut xhat = if keep { zeros(x.len()) } else { Vec::new() };
    let mut rstd = vec![0.0f32; rows];
    let chunk = CHUNK_ROWS * m;
    // One chunk of x̂ per chunk of rows (empty ones when x̂ is not kept).
    let mut xhat_chunks: Vec<&mut [f32]> = xhat.chunks_mut(chunk).collect();
    xhat_chunks.resize_with(rows.div_ceil(CHUNK_ROWS), || &mut []);
    y.par_chunks_mut(chunk)
        .zip(xhat_chunks.into_par_iter())
        .zip(rstd.par_chunks_mut(CHUNK_ROWS))
        .zip(x.par_chunks(chunk))
        .for_each(|(((y, xhat), rstd), x)| {
            simd(LnForwardRows {
                x,
                y,
                xhat,
                rstd,
                gamma,
                beta,
                eps,
            })
        });
    LnForward { y, xhat, rstd }
}

/// [`ln_forward`] on a chunk of rows `x`, `y` (and `xhat`, empty when not kept) of γ's
/// width, with one `rstd` per row, compiled for the CPU's widest vectors.
struct LnForwardRows<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    xhat: &'a mut [f32],
    rstd: &'a mut [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl Kernel for LnForwardRows<'_> {
    #[inline(always)]
    fn run(self) {
        let (gamma, beta) = (self.gamma, self.beta);
        let m = gamma.len();
        let mut xhat = self.xhat.chunks_mut(m);
        for ((x, y), r) in self.x.chunks(m).zip(self.y.chunks_mut(m)).zip(self.rstd) {
            let mean = sum(x) / m as f32;
            // The centred values go through y first (y is overwritten below).
            for (yi, &xi) in y.iter_mut().zip(x) {
                *yi = xi - mean;
            }
            let var = dot(y, y) / m as f32;
            let std = (var + self.eps).sqrt();
            match xhat.next() {
                Some(xhat) => {
                    for (((yi, hi), &g), &b) in y.iter_mut().zip(xhat).zip(gamma).zip(beta) {
                        let h = *yi / std;
                        *hi = h;
                        *yi = h * g + b;
                    }
                }
                None => {
                    for ((yi, &g), &b) in y.iter_mut().zip(gamma).zip(beta) {
                        *yi = *yi / std * g + b;
                    }
                }
            }
            *r = 1.0 / std;
        }
    }
}

/// Adds the LayerNorm input gradient into `dx` and returns (dγ, dβ):
/// dx += (1/σ)·(g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)), dγ = Σ_rows g·x̂, dβ = Σ_rows g.
pub(super) fn ln_backward(
    g: &[f32],
    xhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    dx: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let m = gamma.len();
    let chunk = CHUNK_ROWS * m;
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(chunk)
        .zip(g.par_chunks(chunk))
        .zip(xhat.par_chunks(chunk))
        .zip(rstd.par_chunks(CHUNK_ROWS))
        .map(|(((dx, g), xhat), rstd)| {
            let mut dgamma = vec![0.0f32; m];
            let mut dbeta = vec![0.0f32; m];
            simd(LnBackwardRows {
                g,
                xhat,
                rstd,
                gamma,
                dx,
                dgamma: &mut dgamma,
                dbeta: &mut dbeta,
            });
            (dgamma, dbeta)
        })
        .collect();
    let mut dgamma = vec![0.0f32; m];
    let mut dbeta = vec![0.0f32; m];
    for (pg, pb) in &partials {
        add_into(&mut dgamma, pg);
        add_into(&mut dbeta, pb);
    }
    (dgamma, dbeta)
}

/// [`ln_backward`] on a chunk of rows, adding into `dx` and this chunk's `dgamma`, `dbeta`;
/// compiled for the CPU's widest vectors.
struct LnBackwardRows<'a> {
    g: &'a [f32],
    xhat: &'a [f32],
    rstd: &'a [f32],
    gamma: &'a [f32],
    dx: &'a mut [f32],
    dgamma: &'a mut [f32],
    dbeta: &'a mut [f32],
}

impl Kernel for LnBackwardRows<'_> {
    #[inline(always)]
    fn run(self) {
        let gamma = self.gamma;
        let m = gamma.len();
        let mut gg = vec![0.0f32; m];
        for (((dx, g), xhat), &r) in self
            .dx
            .chunks_mut(m)
            .zip(self.g.chunks(m))
            .zip(self.xhat.chunks(m))
            .zip(self.rstd)
        {
            for (((ggi, &gi), &gam), ((dg, db), &h)) in gg
                .iter_mut()
                .zip(g)
                .zip(gamma)
                .zip(self.dgamma.iter_mut().zip(self.dbeta.iter_mut()).zip(xhat))
            {
                *ggi = gi * gam;
                *dg += gi * h;
                *db += gi;
            }
            let a = sum(&gg) / m as f32;
            let b = dot(&gg, xhat) / m as f32;
            for ((d, &ggi), &h) in dx.iter_mut().zip(&gg).zip(xhat) {
                *d += r * (ggi - a - h * b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::tests::{close, with_threads};
    use dfdx::nn::Module;

    fn norm(dev: &Cpu) -> LayerNorm1D<16, f32, Cpu> {
        LayerNorm1D {
            gamma: dev.sample_normal(),
            beta: dev.sample_normal(),
            epsilon: crate::model::LN_EPS,
        }
    }

    /// Forward, dx, dγ, dβ of `f` with loss Σ y·w, accumulated `passes` times.
    fn ln_run<F>(
        ln: &LayerNorm1D<16, f32, Cpu>,
        x: &Tensor<Rank3<3, 5, 16>, f32, Cpu>,
        w: &Tensor<Rank3<3, 5, 16>, f32, Cpu>,
        passes: usize,
        f: F,
    ) -> [Vec<f32>; 4]
    where
        F: Fn(
            Tensor<Rank3<3, 5, 16>, f32, Cpu, OwnedTape<f32, Cpu>>,
        ) -> Tensor<Rank3<3, 5, 16>, f32, Cpu, OwnedTape<f32, Cpu>>,
    {
        let mut grads = Gradients::leaky();
        let mut y = Vec::new();
        for _ in 0..passes {
            // x is also used directly, so its gradient has a value before the norm's.
            let out = f(x.trace(grads));
            y = out.as_vec();
            let loss = (out * w.clone()).sum();
            grads = loss.backward();
        }
        [
            y,
            grads.get(x).as_vec(),
            grads.get(&ln.gamma).as_vec(),
            grads.get(&ln.beta).as_vec(),
        ]
    }

    #[test]
    fn layer_norm_matches_dfdx_with_accumulation() {
        let dev = Cpu::seed_from_u64(7);
        let ln = norm(&dev);
        let x: Tensor<Rank3<3, 5, 16>, f32, Cpu> = dev.sample_normal();
        let w: Tensor<Rank3<3, 5, 16>, f32, Cpu> = dev.sample_normal();
        for passes in [1, 2] {
            let a = ln_run(&ln, &x, &w, passes, |x| {
                let (x, tape) = x.split_tape();
                let y = layer_norm(&ln, x.clone().put_tape(tape)).expect("fused");
                y + x * 0.5 // dx receives a second contribution
            });
            let b = ln_run(&ln, &x, &w, passes, |x| {
                let (x, tape) = x.split_tape();
                let y = ln.forward(x.clone().put_tape(tape));
                y + x * 0.5
            });
            for (what, (a, b)) in ["y", "dx", "dgamma", "dbeta"].iter().zip(a.iter().zip(&b)) {
                close(what, a, b);
            }
        }
    }

    #[test]
    fn layer_norm_reads_strided_inputs() {
        let dev = Cpu::seed_from_u64(8);
        let ln = norm(&dev);
        let x: Tensor<Rank3<3, 16, 5>, f32, Cpu> = dev.sample_normal();
        let run = |fused: bool| {
            let xt = x.leaky_trace().permute::<Rank3<3, 5, 16>, _>(); // (3, 5, 16) strided
            let y = if fused {
                layer_norm(&ln, xt).expect("fused")
            } else {
                ln.forward(xt)
            };
            let v = y.as_vec();
            let g = (y.square()).sum().backward();
            (v, g.get(&x).as_vec(), g.get(&ln.gamma).as_vec())
        };
        let (a, b) = (run(true), run(false));
        close("y", &a.0, &b.0);
        close("dx", &a.1, &b.1);
        close("dgamma", &a.2, &b.2);
    }

    #[test]
    fn layer_norm_without_tape_matches() {
        let dev = Cpu::seed_from_u64(9);
        let ln = norm(&dev);
        let x: Tensor<(usize, Const<7>, Const<16>), f32, Cpu> =
            dev.sample_normal_like(&(70, Const, Const));
        let a = layer_norm(&ln, x.clone()).expect("fused").as_vec();
        close("y", &a, &ln.forward(x).as_vec());
    }

    #[test]
    fn cross_row_sums_do_not_depend_on_thread_count() {
        let dev = Cpu::seed_from_u64(12);
        let g: Vec<f32> = dev.sample_normal_like(&(4000usize,)).as_vec();
        let h: Vec<f32> = dev.sample_normal_like(&(4000usize,)).as_vec();
        let r = vec![1.0f32; 250];
        let gamma = vec![1.0f32; 16];
        let run = |threads: usize| {
            with_threads(threads, || {
                let mut dx = vec![0.0f32; 4000];
                let (dg, db) = ln_backward(&g, &h, &r, &gamma, &mut dx);
                (dx, dg, db)
            })
        };
        assert_eq!(run(1), run(3));
    }
}
