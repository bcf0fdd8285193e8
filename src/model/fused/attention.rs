//! The core of multi-head self-attention, `softmax(q·kᵀ·scale)·v` for every head, read
//! straight from the fused qkv projection's output and written straight into the heads'
//! columns of the output: no slices, no permutes, no copies of q, k or v.
//!
//! For sample b and head h, with `q`, `k`, `v` the `(T, hd)` column blocks of qkv `(T, 3D)`:
//! forward `P = softmax(scale·q·kᵀ)` `(T, T)`, `o = P·v`; backward, from `do`:
//! `dP = do·vᵀ`, `dv += Pᵀ·do`, `dS = scale·P ⊙ (dP − rowsum(dP ⊙ P))`, `dq += dS·k`,
//! `dk += dSᵀ·q`. Samples run in parallel (each writes only its own rows); the heads of a
//! sample run in order, so results do not depend on the number of threads.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::gemm::{matmul, Threads, View, ViewMut, Write};
use super::math::{exp, simd, Kernel};
use super::{device_tensor, dot, host, host_grad, sum};

/// `(B, T, 3D)` qkv (rows q | k | v, heads contiguous inside each) → `(B, T, D)` heads
/// concatenated, for `heads` heads of `D / heads` columns. CPU f32 only: the caller checks
/// [`super::fused`], and that B·T > 0.
#[allow(clippy::type_complexity)]
pub(crate) fn attention<
    B: Dim,
    Tok: Dim,
    const D: usize,
    const D3: usize,
    E: Dtype,
    Dev: Device<E>,
    T: Tape<E, Dev>,
>(
    qkv: Tensor<(B, Tok, Const<D3>), E, Dev, T>,
    heads: usize,
    scale: f32,
) -> Result<Tensor<(B, Tok, Const<D>), E, Dev, T>, Dev::Err> {
    assert!(
        D3 == 3 * D && heads > 0 && D.is_multiple_of(heads),
        "attention: D3 = 3·D, H | D"
    );
    let (qkv, mut tape) = qkv.try_contiguous()?.split_tape();
    let (b, t, _) = *qkv.shape();
    let shape = Shape3 {
        tokens: t.size(),
        heads,
        dim: D,
    };
    let n = shape.tokens;
    assert!(b.size() > 0 && n > 0, "attention: B·T > 0");
    let src = host(&qkv); // (B, T, 3D)
    let mut probs = vec![0.0f32; b.size() * heads * n * n]; // (B, H, T, T)
    let mut out = vec![0.0f32; b.size() * n * D]; // (B, T, D)
    let threads = threads_for(b.size());
    out.par_chunks_mut(n * D)
        .zip(probs.par_chunks_mut(heads * n * n))
        .zip(src.par_chunks(n * 3 * D))
        .for_each(|((o, p), s)| shape.forward(s, p, o, scale, threads));
    let out = device_tensor::<_, E, Dev>(qkv.device(), out, (b, t, Const::<D>))?;
    if T::OWNS_TAPE {
        let (qkv_g, out_g) = (qkv.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&qkv_g)?;
            with_out_grad!(grads, out_g, |g| {
                grad_mut!(grads, qkv_g)
                    .par_chunks_mut(n * 3 * D)
                    .zip(g.par_chunks(n * D))
                    .zip(probs.par_chunks(heads * n * n))
                    .zip(src.par_chunks(n * 3 * D))
                    .for_each(|(((ds, g), p), s)| shape.backward(s, p, g, ds, scale, threads));
            });
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
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

/// One sample's sizes: T tokens, H heads, model width D.
#[derive(Clone, Copy)]
struct Shape3 {
    tokens: usize,
    heads: usize,
    dim: usize,
}

impl Shape3 {
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
    fn forward(&self, s: &[f32], p: &mut [f32], o: &mut [f32], scale: f32, threads: Threads) {
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
    fn backward(
        &self,
        s: &[f32],
        p: &[f32],
        g: &[f32],
        ds: &mut [f32],
        scale: f32,
        threads: Threads,
    ) {
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
            for (dr, pr) in dp.chunks_mut(n).zip(ph.chunks(n)) {
                let s = dot(dr, pr);
                for (x, &y) in dr.iter_mut().zip(pr) {
                    *x = scale * (y * (*x - s));
                }
            }
            let dsv = View::row_major(&dp, n, n);
            matmul(self.grad(ds, 0, h), dsv, k, Write::Accumulate, threads);
            matmul(self.grad(ds, 1, h), dsv.t(), q, Write::Accumulate, threads);
        }
    }
}

/// In place, for each row of `n` in `p`: z = scale·x, y = exp(z − max z) / Σ exp(z − max z).
struct Softmax<'a> {
    p: &'a mut [f32],
    n: usize,
    scale: f32,
}

impl Kernel for Softmax<'_> {
    #[inline(always)]
    fn run(self) {
        for row in self.p.chunks_mut(self.n) {
            let mut max = f32::NEG_INFINITY;
            for v in row.iter_mut() {
                *v *= self.scale;
                max = max.max(*v);
            }
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

#[cfg(test)]
mod tests {
    use super::super::tests::{close, with_threads};
    use super::*;

    const D: usize = 12;
    type Qkv<T> = Tensor<(usize, Const<7>, Const<36>), f32, Cpu, T>;

    /// The dfdx-op composition (the path of every other device).
    fn reference<T: Tape<f32, Cpu>>(
        qkv: Qkv<T>,
        heads: usize,
        scale: f32,
    ) -> Tensor<(usize, Const<7>, Const<D>), f32, Cpu, T> {
        let (b, s, _) = *qkv.shape();
        let hd = D / heads;
        let (qkv, tape) = qkv.split_tape();
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
        attn.matmul(v)
            .permute::<_, Axes4<0, 2, 1, 3>>()
            .reshape_like(&(b, s, Const::<D>))
    }

    fn run(batch: usize, heads: usize, fused: bool, passes: usize) -> (Vec<f32>, Vec<f32>) {
        let dev = Cpu::seed_from_u64(21);
        let x: Qkv<NoneTape> = dev.sample_normal_like(&(batch, Const, Const));
        let w: Tensor<(usize, Const<7>, Const<D>), f32, Cpu> =
            dev.sample_normal_like(&(batch, Const, Const));
        let scale = 0.41f32;
        let mut grads = Gradients::leaky();
        let mut y = Vec::new();
        for _ in 0..passes {
            let xt = x.trace(grads);
            let o = if fused {
                attention::<_, _, D, 36, _, _, _>(xt, heads, scale).expect("fused")
            } else {
                reference(xt, heads, scale)
            };
            y = o.as_vec();
            grads = (o * w.clone()).sum().backward();
        }
        (y, grads.get(&x).as_vec())
    }

    #[test]
    fn attention_matches_the_dfdx_ops_and_accumulates() {
        // Batch 5 runs one product per thread; batch 1 lets each product use the pool.
        for (batch, heads) in [(5, 3), (1, 2), (3, 1)] {
            let (a, b) = (run(batch, heads, true, 1), run(batch, heads, false, 1));
            close("y", &a.0, &b.0);
            close("dqkv", &a.1, &b.1);
            // A second pass adds to the first one's gradient. (The dfdx reference cannot
            // show this: dfdx 0.13's `slice` backward assigns instead of adding.)
            let twice = run(batch, heads, true, 2);
            let doubled: Vec<f32> = a.1.iter().map(|g| g + g).collect();
            assert_eq!(twice.1, doubled);
        }
    }

    #[test]
    fn attention_reads_a_strided_qkv_and_runs_without_a_tape() {
        let dev = Cpu::seed_from_u64(22);
        let x: Tensor<(usize, Const<36>, Const<7>), f32, Cpu> =
            dev.sample_normal_like(&(2, Const, Const));
        let xt = x.clone().permute::<(usize, Const<7>, Const<36>), _>();
        let a = attention::<_, _, D, 36, _, _, _>(xt.clone(), 3, 0.3)
            .expect("fused")
            .as_vec();
        close("y", &a, &reference(xt, 3, 0.3).as_vec());
    }

    #[test]
    fn attention_does_not_depend_on_thread_count() {
        let at = |threads: usize| with_threads(threads, || run(4, 3, true, 1));
        assert_eq!(at(1), at(3));
    }
}
