//! Fused CPU kernels with hand-written backward passes: LayerNorm, exact GELU and
//! stochastic depth's per-sample scaling here; `Linear` on tokens (`linear`), the attention
//! sublayer (`attention`: qkv, q·kᵀ, softmax, ·v for every head, proj) and the MLP (`mlp`:
//! fc1, GELU, fc2) as matrix products through `gemm` (a bounds-checked wrapper over the
//! `gemm` crate's kernels), with `math`'s vectorised `exp` and `erf`; `branch` runs either
//! as a whole pre-norm sublayer, `x + s·f(LayerNorm(x))`, in one op.
//!
//! Each dfdx op allocates a fresh output and, in the backward pass, a fresh gradient; a
//! LayerNorm is ~8 such ops, and attention's head split and merge are permute copies. Here
//! each of these layers is one forward pass and one backward pass that accumulates (`+=`)
//! into the input's (and parameters') gradients, with what the backward needs saved on the
//! host.
//!
//! Only `Cpu` with `f32` takes the fused path (checked with `TypeId`, so the graphs stay
//! generic over the device); every other device/dtype runs the dfdx-op composition
//! unchanged. Reductions never depend on rayon's scheduling: per-row sums are sequential
//! inside a row, sums across rows (γ, β and bias gradients) are taken over fixed chunks of
//! rows whose partial sums are added in order, and a matrix product splits its output, never
//! its inner dimension, across threads, so results are the same for any number of threads.

use std::any::{Any, TypeId};

use dfdx::nn::modules::LayerNorm1D;
use dfdx::nn::Module;
use dfdx::prelude::*;
use rayon::prelude::*;

/// Rows per parallel task (and per partial sum of the γ/β gradients).
const CHUNK_ROWS: usize = 32;
/// Elements per parallel task of the element-wise kernels.
const CHUNK_ELEMS: usize = 1 << 14;

/// Whether `(E, Dev)` is `(f32, Cpu)`, the only pair with fused kernels.
pub(crate) fn fused<E: 'static, Dev: 'static>() -> bool {
    TypeId::of::<E>() == TypeId::of::<f32>() && TypeId::of::<Dev>() == TypeId::of::<Cpu>()
}

/// `a` as a `B`, which must be the same type (checked by [`fused`] before any call).
fn cast<A: 'static, B: 'static>(a: A) -> B {
    let mut a = Some(a);
    (&mut a as &mut dyn Any)
        .downcast_mut::<Option<B>>()
        .and_then(Option::take)
        .unwrap_or_else(|| unreachable!("fused kernels run only on Cpu with f32"))
}

/// A gradient buffer of `Dev` as the `Vec<f32>` it is on the CPU.
fn host_grad<E: Dtype, Dev: Device<E>>(v: &mut <Dev as Storage<E>>::Vec) -> &mut Vec<f32> {
    (v as &mut dyn Any)
        .downcast_mut::<<Cpu as Storage<f32>>::Vec>()
        .unwrap_or_else(|| unreachable!("fused kernels run only on Cpu with f32"))
}

/// A row-major tensor's values, by one `memcpy` of its buffer.
///
/// Every caller passes a tensor that is row-major with a buffer of exactly its size: the
/// output of `try_contiguous` (which copies anything strided or broadcast) or a parameter.
/// dfdx's `as_vec` would instead walk the strides element by element, which cost ≈ 7% of a
/// DeiT-Ti training step. Debug builds (the test suite) check the copy against `as_vec`.
fn host<S: Shape, E: Dtype, Dev: Device<E>, T>(x: &Tensor<S, E, Dev, T>) -> Vec<f32> {
    let mut v: Vec<E> = cast(zeros(x.shape().num_elements()));
    x.copy_into(&mut v);
    let v: Vec<f32> = cast(v);
    debug_assert!(
        v.iter()
            .map(|a| a.to_bits())
            .eq(cast::<_, Vec<f32>>(x.as_vec()).iter().map(|a| a.to_bits())),
        "fused::host on a tensor that is not row-major"
    );
    v
}

/// `len` zeros. Large buffers are written by every thread (a plain `vec![0.0; len]` is one
/// thread's `memset` whenever the allocator reuses memory, with the others idle).
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    if len < 4 * CHUNK_ELEMS {
        return vec![0.0; len];
    }
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(0.0f32, len));
    v
}

/// A copy of `v` (large slices copied by every thread).
fn copied(v: &[f32]) -> Vec<f32> {
    if v.len() < 4 * CHUNK_ELEMS {
        return v.to_vec();
    }
    let mut out = Vec::with_capacity(v.len());
    out.par_extend(v.par_iter().copied());
    out
}

/// A new (contiguous) tensor of `shape` holding `data`.
fn device_tensor<S: Shape, E: Dtype, Dev: Device<E>>(
    dev: &Dev,
    data: Vec<f32>,
    shape: S,
) -> Result<Tensor<S, E, Dev>, Dev::Err> {
    dev.try_tensor_from_vec(cast::<Vec<f32>, Vec<E>>(data), shape)
}

/// `&mut Vec<f32>` of the gradient of `$t` (a ghost or tensor), allocated if absent.
macro_rules! grad_mut {
    ($grads:ident, $t:expr) => {
        host_grad::<E, Dev>($grads.get_or_alloc_mut(&$t)?)
    };
}

/// Runs `$body` with `$g` bound to the output gradient (a `Vec<f32>` taken out of
/// `$grads` without copying, and put back afterwards).
macro_rules! with_out_grad {
    ($grads:ident, $out:expr, |$g:ident| $body:block) => {{
        let $g = std::mem::take(grad_mut!($grads, $out));
        let result = $body;
        *grad_mut!($grads, $out) = $g;
        result
    }};
}

mod attention;
mod branch;
mod gemm;
mod linear;
mod math;
mod mlp;

pub(crate) use attention::{attention, AttentionBranch};
pub(crate) use branch::residual;
pub(crate) use linear::linear;
pub(crate) use math::{simd, Kernel};
pub(crate) use mlp::{mlp, MlpBranch};

/// Sum of `a[i]·b[i]` in eight fixed lanes (vectorisable, deterministic).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Sum of `a[i]` in eight fixed lanes.
#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let a8 = a.chunks_exact(8);
    let ra = a8.remainder();
    for x in a8 {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().sum::<f32>()
}

// ---------------------------------------------------------------------------------------
// LayerNorm
// ---------------------------------------------------------------------------------------

/// LayerNorm over the last axis of `(B, T, M)` with `norm`'s γ, β and epsilon: fused on
/// the CPU, `norm.try_forward` elsewhere.
#[allow(clippy::type_complexity)]
pub(crate) fn layer_norm<
    B: Dim,
    Tok: Dim,
    const M: usize,
    E: Dtype,
    Dev: Device<E>,
    T: Tape<E, Dev>,
>(
    norm: &LayerNorm1D<M, E, Dev>,
    x: Tensor<(B, Tok, Const<M>), E, Dev, T>,
) -> Result<Tensor<(B, Tok, Const<M>), E, Dev, T>, Dev::Err> {
    if !fused::<E, Dev>() || M == 0 {
        return norm.try_forward(x);
    }
    // Gradients are stored in the input's memory layout: make it row-major (free when it
    // already is; a strided input is copied by dfdx's `contiguous`, with its backward).
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let shape = *x.shape();
    let xs = host(&x); // (B, T, M)
    let gamma = host(&norm.gamma); // (M,)
    let beta = host(&norm.beta); // (M,)
    let fwd = ln_forward(&xs, &gamma, &beta, M, norm.epsilon as f32, T::OWNS_TAPE);
    drop(xs);
    let out = device_tensor::<_, E, Dev>(x.device(), fwd.y, shape)?;
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
struct LnForward {
    y: Vec<f32>,
    xhat: Vec<f32>,
    rstd: Vec<f32>,
}

/// Per row of width `m`: μ, σ = √(var + eps), x̂ = (x − μ)/σ, y = x̂·γ + β. x̂ and 1/σ are
/// kept only when `keep` (a backward pass will follow).
fn ln_forward(x: &[f32], gamma: &[f32], beta: &[f32], m: usize, eps: f32, keep: bool) -> LnForward {
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
            math::simd(LnForwardRows {
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

impl math::Kernel for LnForwardRows<'_> {
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
fn ln_backward(
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
            math::simd(LnBackwardRows {
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

impl math::Kernel for LnBackwardRows<'_> {
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

/// `acc += v` element-wise (large slices by every thread).
fn add_into(acc: &mut [f32], v: &[f32]) {
    if acc.len() >= 4 * CHUNK_ELEMS {
        acc.par_chunks_mut(CHUNK_ELEMS)
            .zip(v.par_chunks(CHUNK_ELEMS))
            .for_each(|(a, v)| add_into(a, v));
        return;
    }
    for (a, &b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

// ---------------------------------------------------------------------------------------
// Linear bias and per-sample scaling
// ---------------------------------------------------------------------------------------

/// `x (B, T, D)` with sample b multiplied by `scales[b]` (stochastic depth's mask): fused
/// on the CPU, a broadcast `try_mul` elsewhere.
#[allow(clippy::type_complexity)]
pub(crate) fn scale_samples<Tok: Dim, const M: usize, E: Dtype, Dev: Device<E>, T: Tape<E, Dev>>(
    x: Tensor<(usize, Tok, Const<M>), E, Dev, T>,
    scales: Vec<E>,
) -> Result<Tensor<(usize, Tok, Const<M>), E, Dev, T>, Dev::Err> {
    let shape = *x.shape();
    if !fused::<E, Dev>() {
        let mask = x.device().try_tensor_from_vec(scales, (shape.0,))?; // (B,)
        let mask = mask.try_broadcast_like::<_, Axes2<1, 2>>(&shape)?; // (B, T, D)
        return x.try_mul(mask);
    }
    let scales: Vec<f32> = cast(scales);
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let per_sample = shape.1.size() * M;
    let mut y = host(&x); // (B, T, D)
    if per_sample > 0 {
        y.par_chunks_mut(per_sample)
            .zip(&scales)
            .for_each(|(y, &s)| y.iter_mut().for_each(|v| *v *= s));
    }
    let out = device_tensor::<_, E, Dev>(x.device(), y, shape)?;
    if T::OWNS_TAPE && per_sample > 0 {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            with_out_grad!(grads, out_g, |g| {
                grad_mut!(grads, x_g)
                    .par_chunks_mut(per_sample)
                    .zip(g.par_chunks(per_sample))
                    .zip(&scales)
                    .for_each(|((d, g), &s)| {
                        for (d, &g) in d.iter_mut().zip(g) {
                            *d += g * s;
                        }
                    });
            });
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

// ---------------------------------------------------------------------------------------
// GELU
// ---------------------------------------------------------------------------------------

/// Exact GELU `x·Φ(x)` on the CPU (the caller checks [`fused`]): dfdx's `accurate_gelu`
/// formula with the vectorised `erf` of [`math`] (within 5e-7 of libm's), and the backward
/// Φ(x) + x·φ(x), both from one pass.
pub(crate) fn gelu_cpu<S: Shape, E: Dtype, Dev: Device<E>, T: Tape<E, Dev>>(
    x: Tensor<S, E, Dev, T>,
) -> Result<Tensor<S, E, Dev, T>, Dev::Err> {
    // Gradients are stored in the input's memory layout: make it row-major (free when it
    // already is; a strided input is copied by dfdx's `contiguous`, with its backward).
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let shape = *x.shape();
    let mut y = host(&x);
    let mut d = if T::OWNS_TAPE {
        zeros(y.len())
    } else {
        Vec::new()
    };
    gelu_forward(&mut y, &mut d);
    let out = device_tensor::<_, E, Dev>(x.device(), y, shape)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            with_out_grad!(grads, out_g, |g| {
                let dx = grad_mut!(grads, x_g);
                dx.par_chunks_mut(CHUNK_ELEMS)
                    .zip(g.par_chunks(CHUNK_ELEMS))
                    .zip(d.par_chunks(CHUNK_ELEMS))
                    .for_each(|((dx, g), d)| {
                        for ((dx, &g), &d) in dx.iter_mut().zip(g).zip(d) {
                            *dx += g * d;
                        }
                    });
            });
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// In place: x ← 0.5·x·(1 + erf(x/√2)); and when `d` is not empty, d ← Φ(x) + x·φ(x).
fn gelu_forward(x: &mut [f32], d: &mut [f32]) {
    if d.is_empty() {
        x.par_chunks_mut(CHUNK_ELEMS)
            .for_each(|x| math::simd(Gelu { x, d: &mut [] }));
        return;
    }
    x.par_chunks_mut(CHUNK_ELEMS)
        .zip(d.par_chunks_mut(CHUNK_ELEMS))
        .for_each(|(x, d)| math::simd(Gelu { x, d }));
}

/// [`gelu_forward`] on one chunk (`d` empty, or as long as `x`).
struct Gelu<'a> {
    x: &'a mut [f32],
    d: &'a mut [f32],
}

impl math::Kernel for Gelu<'_> {
    #[inline(always)]
    fn run(self) {
        use math::{erf, exp};
        use std::f32::consts::FRAC_1_SQRT_2;
        // 1/√(2π)
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        if self.d.is_empty() {
            for v in self.x {
                *v = 0.5 * *v * (1.0 + erf(*v * FRAC_1_SQRT_2));
            }
            return;
        }
        for (v, d) in self.x.iter_mut().zip(self.d) {
            let xi = *v;
            let e = erf(xi * FRAC_1_SQRT_2);
            *d = 0.5 * (1.0 + e) + xi * INV_SQRT_2PI * exp(-0.5 * xi * xi);
            *v = 0.5 * xi * (1.0 + e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gelu::gelu_ops;

    /// `f` run inside a rayon pool of `threads` threads.
    pub(crate) fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(f)
    }

    /// |a − b| ≤ 1e-5·(|b| + max|ref|) element-wise: relative to the tensor's scale.
    pub(crate) fn close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * (y.abs() + scale),
                "{what}[{i}]: fused {x} vs dfdx {y} (scale {scale})"
            );
        }
    }

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
    fn gelu_matches_corrected_dfdx_with_accumulation() {
        let dev = Cpu::seed_from_u64(11);
        let x: Tensor<Rank2<7, 300>, f32, Cpu> = dev.sample_normal::<Rank2<7, 300>>() * 2.0;
        let w: Tensor<Rank2<7, 300>, f32, Cpu> = dev.sample_normal();
        let run = |fused: bool, passes: usize| {
            let mut grads = Gradients::leaky();
            let mut y = Vec::new();
            for _ in 0..passes {
                let (xt, tape) = x.trace(grads).split_tape();
                let h = if fused {
                    gelu_cpu(xt.clone().put_tape(tape)).expect("fused")
                } else {
                    gelu_ops(xt.clone().put_tape(tape)).expect("dfdx")
                };
                y = h.as_vec();
                grads = ((h + xt * 0.5) * w.clone()).sum().backward();
            }
            (y, grads.get(&x).as_vec())
        };
        // dfdx's formula with another erf: |Δy| ≤ ½·|x|·|Δerf| + rounding.
        let xs = x.as_vec();
        let near = |a: &[f32], b: &[f32]| {
            for ((a, b), x) in a.iter().zip(b).zip(&xs) {
                assert!(
                    (a - b).abs() <= 2e-7 * (1.0 + x.abs()),
                    "gelu({x}): {a} vs {b}"
                );
            }
        };
        for passes in [1, 2] {
            let (a, b) = (run(true, passes), run(false, passes));
            near(&a.0, &b.0);
            close("dx", &a.1, &b.1);
        }
        let a = gelu_cpu(x.clone()).expect("fused").as_vec();
        near(&a, &x.accurate_gelu().as_vec());
    }

    #[test]
    fn scale_samples_matches_dfdx_with_accumulation() {
        let dev = Cpu::seed_from_u64(14);
        let x: Tensor<(usize, Const<5>, Const<8>), f32, Cpu> =
            dev.sample_normal_like(&(6, Const, Const));
        let w: Tensor<(usize, Const<5>, Const<8>), f32, Cpu> =
            dev.sample_normal_like(&(6, Const, Const));
        let scales = vec![0.0f32, 1.25, 1.25, 0.0, 1.25, 1.25];
        let run = |fused: bool, passes: usize| {
            let mut grads = Gradients::leaky();
            let mut y = Vec::new();
            for _ in 0..passes {
                let (xt, tape) = x.trace(grads).split_tape();
                let xt2 = xt.clone().put_tape(tape);
                let o = if fused {
                    scale_samples(xt2, scales.clone()).expect("fused")
                } else {
                    let mask = dev.tensor_from_vec(scales.clone(), (6usize,));
                    xt2 * mask.broadcast_like::<_, Axes2<1, 2>>(&(6, Const, Const))
                };
                y = o.as_vec();
                grads = ((o + xt) * w.clone()).sum().backward();
            }
            (y, grads.get(&x).as_vec())
        };
        for passes in [1, 2] {
            let (a, b) = (run(true, passes), run(false, passes));
            assert_eq!(a.0, b.0);
            close("dx", &a.1, &b.1);
        }
    }

    #[test]
    fn fused_path_is_cpu_f32_only() {
        assert!(fused::<f32, Cpu>());
        assert!(!fused::<f64, Cpu>());
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
