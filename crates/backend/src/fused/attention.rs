//! Multi-head self-attention without its dropout — `qkv` projection, `softmax(q·kᵀ·scale)·v`
//! for every head, `proj` projection — as one op. The heads are read straight from the qkv
//! buffer and written straight into their columns of the output: no slices, no permutes, no
//! copies of q, k or v, and no dfdx tensors between the three stages.
//!
//! For sample b and head h, with `q`, `k`, `v` the `(T, hd)` column blocks of qkv `(T, 3D)`:
//! forward `P = softmax(scale·q·kᵀ)` `(T, T)`, `o = P·v`; backward, from `do`:
//! `dP = do·vᵀ`, `dv += Pᵀ·do`, `dS = scale·P ⊙ (dP − rowsum(dP ⊙ P))`, `dq += dS·k`,
//! `dk += dSᵀ·q`. Samples run in parallel (each writes only its own rows); the heads of a
//! sample run in order, so results do not depend on the number of threads. The projections
//! are [`super::linear`]'s products.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use rayon::prelude::*;

use super::linear::{backward_bias, backward_weight, forward as linear, input_grad};
use super::residual::{branch_op, Branch, BranchBackward};
use crate::cpu::gemm::{matmul, Threads, View, ViewMut, Write};
use crate::cpu::{dot, exp, host, simd, sum, zeros, Kernel};

/// `proj(heads(qkv(x)))` for `x (B, T, D)` with `heads` heads of `D / heads` columns (qkv's
/// rows q | k | v, heads contiguous inside each, as timm's). B·T > 0: the caller checks.
#[allow(clippy::type_complexity)]
pub(crate) fn attention<B: Dim, Tok: Dim, const D: usize, const D3: usize, T: Tape<f32, Cpu>>(
    qkv: &Linear<D, D3, f32, Cpu>,
    proj: &Linear<D, D, f32, Cpu>,
    x: Tensor<(B, Tok, Const<D>), f32, Cpu, T>,
    heads: usize,
    scale: f32,
) -> Result<Tensor<(B, Tok, Const<D>), f32, Cpu, T>, CpuError> {
    let batch = x.shape().0.size();
    branch_op(
        x,
        AttentionBranch {
            qkv,
            proj,
            heads,
            scale,
            batch,
        },
    )
}

/// The attention sublayer as a [`Branch`] over the rows of `batch` samples.
pub(crate) struct AttentionBranch<'a, const D: usize, const D3: usize> {
    pub qkv: &'a Linear<D, D3, f32, Cpu>,
    pub proj: &'a Linear<D, D, f32, Cpu>,
    pub heads: usize,
    pub scale: f32,
    pub batch: usize,
}

impl<const D: usize, const D3: usize> Branch for AttentionBranch<'_, D, D3> {
    fn run(self, x: Vec<f32>, rows: usize, keep: bool) -> (Vec<f32>, Option<BranchBackward>) {
        let (qkv, proj, heads) = (self.qkv, self.proj, self.heads);
        assert!(
            D3 == 3 * D && heads > 0 && D.is_multiple_of(heads),
            "attention: D3 = 3·D, H | D"
        );
        assert!(
            self.batch > 0 && rows > 0 && rows.is_multiple_of(self.batch),
            "attention: B·T > 0"
        );
        let core = Heads {
            batch: self.batch,
            tokens: rows / self.batch,
            heads,
            dim: D,
            scale: self.scale,
        };
        let (w_qkv, w_proj) = (host(&qkv.weight), host(&proj.weight)); // (3D, D), (D, D)
        let src = linear(&x, &w_qkv, &host(&qkv.bias), rows); // (N, 3D)
        let (probs, mid) = core.forward(&src); // (B, H, T, T), (N, D)
        let y = linear(&mid, &w_proj, &host(&proj.bias), rows); // (N, D)
        if !keep {
            return (y, None);
        }
        let (wq_g, bq_g) = (qkv.weight.ghost(), qkv.bias.ghost());
        let (wp_g, bp_g) = (proj.weight.ghost(), proj.bias.ghost());
        let backward: BranchBackward = Box::new(move |g, grads| {
            grads.try_alloc_for(&wq_g)?;
            grads.try_alloc_for(&bq_g)?;
            grads.try_alloc_for(&wp_g)?;
            grads.try_alloc_for(&bp_g)?;
            let d_mid = input_grad(g, &w_proj, rows); // (N, D)
            backward_weight(g, &mid, rows, grad_mut!(grads, wp_g));
            backward_bias(g, grad_mut!(grads, bp_g));
            let mut d_src = zeros(rows * 3 * D); // (N, 3D)
            core.backward(&src, &probs, &d_mid, &mut d_src);
            let dx = input_grad(&d_src, &w_qkv, rows); // (N, D)
            backward_weight(&d_src, &x, rows, grad_mut!(grads, wq_g));
            backward_bias(&d_src, grad_mut!(grads, bq_g));
            Ok(dx)
        });
        (y, Some(backward))
    }
}

/// Products inside a per-sample task use one thread, unless there are fewer samples than
/// threads (then each product uses the pool).
fn threads_for(samples: usize) -> Threads {
    if samples >= rayon::current_num_threads() {
        Threads::One
    } else {
        Threads::Pool
    }
}

/// The attention core's sizes: B samples of T tokens, H heads, model width D, and the
/// scale of q·kᵀ.
#[derive(Clone, Copy)]
struct Heads {
    batch: usize,
    tokens: usize,
    heads: usize,
    dim: usize,
    scale: f32,
}

impl Heads {
    /// `src (B, T, 3D)` → probabilities `(B, H, T, T)` and heads `(B, T, D)`.
    fn forward(&self, src: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (n, d, h) = (self.tokens, self.dim, self.heads);
        let mut probs = zeros(self.batch * h * n * n);
        let mut out = zeros(self.batch * n * d);
        let threads = threads_for(self.batch);
        out.par_chunks_mut(n * d)
            .zip(probs.par_chunks_mut(h * n * n))
            .zip(src.par_chunks(n * 3 * d))
            .for_each(|((o, p), s)| self.sample_forward(s, p, o, threads));
        (probs, out)
    }

    /// From `g (B, T, D)` and the forward's `src`, `probs`: accumulate into `ds (B, T, 3D)`.
    fn backward(&self, src: &[f32], probs: &[f32], g: &[f32], ds: &mut [f32]) {
        let (n, d, h) = (self.tokens, self.dim, self.heads);
        let threads = threads_for(self.batch);
        ds.par_chunks_mut(n * 3 * d)
            .zip(g.par_chunks(n * d))
            .zip(probs.par_chunks(h * n * n))
            .zip(src.par_chunks(n * 3 * d))
            .for_each(|(((ds, g), p), s)| self.sample_backward(s, p, g, ds, threads));
    }

    /// Head `h`'s block `part` (0 q, 1 k, 2 v) of one sample's qkv `(T, 3D)`.
    fn qkv<'a>(&self, s: &'a [f32], part: usize, h: usize) -> View<'a> {
        let hd = self.dim / self.heads;
        View::row_major(s, self.tokens, 3 * self.dim).block(
            0,
            part * self.dim + h * hd,
            self.tokens,
            hd,
        )
    }

    /// The same block of one sample's qkv gradient `(T, 3D)`.
    fn grad<'a>(&self, ds: &'a mut [f32], part: usize, h: usize) -> ViewMut<'a> {
        let hd = self.dim / self.heads;
        ViewMut::row_major(ds, self.tokens, 3 * self.dim).block(
            0,
            part * self.dim + h * hd,
            self.tokens,
            hd,
        )
    }

    /// One sample: `s (T, 3D)` → probabilities `p (H, T, T)` and `o (T, D)`.
    fn sample_forward(&self, s: &[f32], p: &mut [f32], o: &mut [f32], threads: Threads) {
        let scale = self.scale;
        let (n, hd) = (self.tokens, self.dim / self.heads);
        for (h, ph) in p.chunks_mut(n * n).enumerate() {
            let (q, k, v) = (self.qkv(s, 0, h), self.qkv(s, 1, h), self.qkv(s, 2, h));
            matmul(
                ViewMut::row_major(ph, n, n),
                q,
                k.t(),
                Write::Overwrite,
                threads,
            );
            simd(Softmax { p: ph, n, scale });
            let oh = ViewMut::row_major(o, n, self.dim).block(0, h * hd, n, hd);
            matmul(oh, View::row_major(ph, n, n), v, Write::Overwrite, threads);
        }
    }

    /// One sample's gradients: from `g (T, D)` and the saved `s`, `p`, accumulate into
    /// `ds (T, 3D)`.
    fn sample_backward(&self, s: &[f32], p: &[f32], g: &[f32], ds: &mut [f32], threads: Threads) {
        let scale = self.scale;
        let (n, d, hd) = (self.tokens, self.dim, self.dim / self.heads);
        let mut dp = vec![0.0f32; n * n]; // (T, T)
        for (h, ph) in p.chunks(n * n).enumerate() {
            let (q, k, v) = (self.qkv(s, 0, h), self.qkv(s, 1, h), self.qkv(s, 2, h));
            let gh = View::row_major(g, n, d).block(0, h * hd, n, hd); // (T, hd)
            let pv = View::row_major(ph, n, n);
            matmul(
                ViewMut::row_major(&mut dp, n, n),
                gh,
                v.t(),
                Write::Overwrite,
                threads,
            );
            matmul(self.grad(ds, 2, h), pv.t(), gh, Write::Accumulate, threads);
            simd(SoftmaxGrad {
                g: &mut dp,
                p: ph,
                n,
                scale,
            });
            let dsv = View::row_major(&dp, n, n);
            matmul(self.grad(ds, 0, h), dsv, k, Write::Accumulate, threads);
            matmul(self.grad(ds, 1, h), dsv.t(), q, Write::Accumulate, threads);
        }
    }
}

/// In place, for each row of `n`: the gradient of [`Softmax`]'s input from the gradient `g`
/// of its output `p`, g ← scale·p ⊙ (g − Σ g ⊙ p).
pub(super) struct SoftmaxGrad<'a> {
    pub(super) g: &'a mut [f32],
    pub(super) p: &'a [f32],
    pub(super) n: usize,
    pub(super) scale: f32,
}

impl Kernel for SoftmaxGrad<'_> {
    #[inline(always)]
    fn run(self) {
        for (gr, pr) in self.g.chunks_mut(self.n).zip(self.p.chunks(self.n)) {
            let s = dot(gr, pr);
            for (x, &y) in gr.iter_mut().zip(pr) {
                *x = self.scale * (y * (*x - s));
            }
        }
    }
}

/// In place, for each row of `n` in `p`: z = scale·x, y = exp(z − max z) / Σ exp(z − max z).
pub(super) struct Softmax<'a> {
    pub(super) p: &'a mut [f32],
    pub(super) n: usize,
    pub(super) scale: f32,
}

impl Kernel for Softmax<'_> {
    #[inline(always)]
    fn run(self) {
        for row in self.p.chunks_mut(self.n) {
            let max = scale_and_max(row, self.scale);
            for v in row.iter_mut() {
                *v = exp(*v - max);
            }
            let s = sum(row);
            for v in row.iter_mut() {
                *v /= s;
            }
        }
    }
}

/// `row ← scale·row`, returning its maximum (−∞ for an empty row), in sixteen lanes so
/// that it vectorises (a single running maximum is a serial chain of compares).
#[inline(always)]
fn scale_and_max(row: &mut [f32], scale: f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for (v, m) in c.iter_mut().zip(lanes.iter_mut()) {
            *v *= scale;
            *m = if *v > *m { *v } else { *m };
        }
    }
    let mut max = f32::NEG_INFINITY;
    for v in chunks.into_remainder() {
        *v *= scale;
        max = if *v > max { *v } else { max };
    }
    for m in lanes {
        max = if m > max { m } else { max };
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::tests::{close, with_threads};
    use dfdx::nn::Module;

    const D: usize = 12;
    type X<T> = Tensor<(usize, Const<7>, Const<D>), f32, Cpu, T>;

    struct Params {
        qkv: Linear<D, 36, f32, Cpu>,
        proj: Linear<D, D, f32, Cpu>,
    }

    fn params(dev: &Cpu) -> Params {
        Params {
            qkv: Linear {
                weight: dev.sample_normal::<Rank2<36, D>>() * 0.4,
                bias: dev.sample_normal(),
            },
            proj: Linear {
                weight: dev.sample_normal(),
                bias: dev.sample_normal(),
            },
        }
    }

    /// The dfdx-op composition (the path of every other device).
    fn reference<T: Tape<f32, Cpu>>(m: &Params, x: X<T>, heads: usize, scale: f32) -> X<T> {
        let (b, s, _) = *x.shape();
        let hd = D / heads;
        let (qkv, tape) = m.qkv.forward(x).split_tape();
        let q = qkv.clone().put_tape(tape).slice((.., .., 0..D));
        let k = qkv.clone().retaped::<T>().slice((.., .., D..2 * D));
        let v = qkv.retaped::<T>().slice((.., .., 2 * D..3 * D));
        let q = q
            .reshape_like(&(b, s, heads, hd))
            .permute::<_, Axes4<0, 2, 1, 3>>();
        let k = k
            .reshape_like(&(b, s, heads, hd))
            .permute::<_, Axes4<0, 2, 3, 1>>();
        let v = v
            .reshape_like(&(b, s, heads, hd))
            .permute::<_, Axes4<0, 2, 1, 3>>();
        let attn = (q.matmul(k) * scale).softmax::<Axis<3>>();
        let o = attn
            .matmul(v)
            .permute::<_, Axes4<0, 2, 1, 3>>()
            .reshape_like(&(b, s, Const::<D>));
        m.proj.forward(o)
    }

    /// y, dx, d(qkv.weight), d(qkv.bias), d(proj.weight), d(proj.bias).
    fn run(batch: usize, heads: usize, fused: bool, passes: usize) -> [Vec<f32>; 6] {
        let dev = Cpu::seed_from_u64(21);
        let m = params(&dev);
        let x: X<NoneTape> = dev.sample_normal_like(&(batch, Const, Const));
        let w: X<NoneTape> = dev.sample_normal_like(&(batch, Const, Const));
        let scale = 0.41f32;
        let mut grads = Gradients::leaky();
        let mut y = Vec::new();
        for _ in 0..passes {
            let xt = x.trace(grads);
            let o = if fused {
                attention(&m.qkv, &m.proj, xt, heads, scale).expect("fused")
            } else {
                reference(&m, xt, heads, scale)
            };
            y = o.as_vec();
            grads = (o * w.clone()).sum().backward();
        }
        [
            y,
            grads.get(&x).as_vec(),
            grads.get(&m.qkv.weight).as_vec(),
            grads.get(&m.qkv.bias).as_vec(),
            grads.get(&m.proj.weight).as_vec(),
            grads.get(&m.proj.bias).as_vec(),
        ]
    }

    const NAMES: [&str; 6] = [
        "y",
        "dx",
        "dqkv.weight",
        "dqkv.bias",
        "dproj.weight",
        "dproj.bias",
    ];

    #[test]
    fn attention_matches_the_dfdx_ops_and_accumulates() {
        // Batch 5 runs one product per thread; batch 1 lets each product use the pool.
        for (batch, heads) in [(5, 3), (1, 2), (3, 1)] {
            let (a, b) = (run(batch, heads, true, 1), run(batch, heads, false, 1));
            for (what, (a, b)) in NAMES.iter().zip(a.iter().zip(&b)) {
                close(what, a, b);
            }
            // A second pass adds to the first one's gradients (every output but y).
            let twice = run(batch, heads, true, 2);
            for (what, (a, t)) in NAMES.iter().zip(a.iter().zip(&twice)).skip(1) {
                let doubled: Vec<f32> = a.iter().map(|g| g + g).collect();
                assert_eq!(t, &doubled, "{what}");
            }
            // So does the dfdx reference, whose q/k/v are slices of one product (vendored
            // dfdx patch 4: the `slice` backward adds).
            let reference_twice = run(batch, heads, false, 2);
            for (what, (r, t)) in NAMES.iter().zip(reference_twice.iter().zip(&twice)) {
                close(what, r, t);
            }
        }
    }

    #[test]
    fn attention_reads_a_strided_input_and_runs_without_a_tape() {
        let dev = Cpu::seed_from_u64(22);
        let m = params(&dev);
        let x: Tensor<(usize, Const<D>, Const<7>), f32, Cpu> =
            dev.sample_normal_like(&(2, Const, Const));
        let xt = x.clone().permute::<(usize, Const<7>, Const<D>), _>();
        let a = attention(&m.qkv, &m.proj, xt.clone(), 3, 0.3)
            .expect("fused")
            .as_vec();
        close("y", &a, &reference(&m, xt, 3, 0.3).as_vec());
    }

    #[test]
    fn softmax_rows_match_a_running_maximum_bit_for_bit() {
        for n in [1, 15, 16, 17, 197] {
            let x: Vec<f32> = (0..3 * n)
                .map(|i| ((i * 7919) % 1000) as f32 / 40.0 - 12.5)
                .collect();
            let mut want = x.clone();
            for row in want.chunks_mut(n) {
                let mut max = f32::NEG_INFINITY;
                for v in row.iter_mut() {
                    *v *= 0.3;
                    max = max.max(*v);
                }
                row.iter_mut().for_each(|v| *v = exp(*v - max));
                let s = sum(row);
                row.iter_mut().for_each(|v| *v /= s);
            }
            let mut got = x.clone();
            simd(Softmax {
                p: &mut got,
                n,
                scale: 0.3,
            });
            assert_eq!(got, want, "rows of {n}");
        }
    }

    #[test]
    fn attention_does_not_depend_on_thread_count() {
        let at = |threads: usize| with_threads(threads, || run(4, 3, true, 1));
        assert_eq!(at(1), at(3));
    }
}
