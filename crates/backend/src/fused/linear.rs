//! `Linear` on tokens `(B, T, I)` → `(B, T, O)` as one product and its two backward
//! products, through [`super::gemm`].
//!
//! Forward: `y = b + x·Wᵀ` (the rows of `y` start as the bias and the product is added).
//! Backward: `dx += dy·W`, `dW += dyᵀ·x`, `db += Σ_rows dy` (partial sums over fixed chunks
//! of rows, added in order). The transposes are views, never copies.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use rayon::prelude::*;

use crate::cpu::gemm::{matmul, product_new, Threads, View, ViewMut, Write};
use crate::cpu::{add_into, device_tensor, host, CHUNK_ROWS};

/// `lin` on tokens `(B, T, I)` → `(B, T, O)`, with `I, O > 0` (the caller checks).
#[allow(clippy::type_complexity)]
pub(crate) fn linear<B: Dim, Tok: Dim, const I: usize, const O: usize, T: Tape<f32, Cpu>>(
    lin: &Linear<I, O, f32, Cpu>,
    x: Tensor<(B, Tok, Const<I>), f32, Cpu, T>,
) -> Result<Tensor<(B, Tok, Const<O>), f32, Cpu, T>, CpuError> {
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let (b, t, _) = *x.shape();
    let n = b.size() * t.size();
    let xh = host(&x); // (N, I)
    let w = host(&lin.weight); // (O, I)
    let y = forward(&xh, &w, &host(&lin.bias), n); // (N, O)
    let out = device_tensor(x.device(), y, (b, t, Const::<O>))?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let (w_g, b_g) = (lin.weight.ghost(), lin.bias.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&w_g)?;
            grads.try_alloc_for(&b_g)?;
            with_out_grad!(grads, out_g, |g| {
                backward_input(&g, &w, n, grad_mut!(grads, x_g));
                backward_weight(&g, &xh, n, grad_mut!(grads, w_g));
                backward_bias(&g, grad_mut!(grads, b_g));
            });
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// `y = b + x·Wᵀ` for `x (n, I)`, `W (O, I)` (`w.len() / I` rows), `b (O,)`: `(n, O)`.
/// The product writes a fresh buffer and each thread adds the bias to its rows.
pub(super) fn forward(x: &[f32], w: &[f32], bias: &[f32], n: usize) -> Vec<f32> {
    let o = bias.len();
    let i = w.len().checked_div(o).unwrap_or(0);
    product_new(
        View::row_major(x, n, i),
        View::row_major(w, o, i).t(),
        Threads::Pool,
        |_, rows| {
            for row in rows.chunks_mut(o) {
                add_into(row, bias);
            }
        },
    )
}

/// `dy·W` for `dy (n, O)`, `W (O, I)`: a new `(n, I)`.
pub(super) fn input_grad(dy: &[f32], w: &[f32], n: usize) -> Vec<f32> {
    let o = dy.len() / n.max(1);
    let i = w.len().checked_div(o).unwrap_or(0);
    product_new(
        View::row_major(dy, n, o),
        View::row_major(w, o, i),
        Threads::Pool,
        |_, _| {},
    )
}

/// `dx += dy·W` for `dy (n, O)`, `W (O, I)`, `dx (n, I)`.
pub(super) fn backward_input(dy: &[f32], w: &[f32], n: usize, dx: &mut [f32]) {
    let (o, i) = (dy.len() / n.max(1), dx.len() / n.max(1));
    let (dy, w) = (View::row_major(dy, n, o), View::row_major(w, o, i));
    matmul(
        ViewMut::row_major(dx, n, i),
        dy,
        w,
        Write::Accumulate,
        Threads::Pool,
    );
}

/// `dW += dyᵀ·x` for `dy (n, O)`, `x (n, I)`, `dW (O, I)`.
pub(super) fn backward_weight(dy: &[f32], x: &[f32], n: usize, dw: &mut [f32]) {
    let (o, i) = (dy.len() / n.max(1), x.len() / n.max(1));
    let (dy, x) = (View::row_major(dy, n, o), View::row_major(x, n, i));
    matmul(
        ViewMut::row_major(dw, o, i),
        dy.t(),
        x,
        Write::Accumulate,
        Threads::Pool,
    );
}

/// `db += Σ_rows dy` for `dy (n, O)`, `db (O,)`: partial sums over fixed chunks of rows,
/// added in order, then added to `db` once.
pub(super) fn backward_bias(dy: &[f32], db: &mut [f32]) {
    let o = db.len();
    if o == 0 {
        return;
    }
    let partials: Vec<Vec<f32>> = dy
        .par_chunks(CHUNK_ROWS * o)
        .map(|rows| {
            let mut part = vec![0.0f32; o];
            for row in rows.chunks(o) {
                add_into(&mut part, row);
            }
            part
        })
        .collect();
    let mut total = vec![0.0f32; o];
    for part in &partials {
        add_into(&mut total, part);
    }
    add_into(db, &total);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::tests::{close, with_threads};

    #[test]
    fn linear_matches_dfdx_with_accumulation() {
        let dev = Cpu::seed_from_u64(13);
        let lin: Linear<12, 20, f32, Cpu> = Linear {
            weight: dev.sample_normal(),
            bias: dev.sample_normal(),
        };
        let x: Tensor<(usize, Const<9>, Const<12>), f32, Cpu> =
            dev.sample_normal_like(&(70, Const, Const));
        let w: Tensor<(usize, Const<9>, Const<20>), f32, Cpu> =
            dev.sample_normal_like(&(70, Const, Const));
        let run = |fused: bool, passes: usize| {
            let mut grads = Gradients::leaky();
            let mut y = Vec::new();
            for _ in 0..passes {
                // The second pass accumulates into the first pass's gradients.
                let xt = x.trace(grads);
                let o = if fused {
                    linear(&lin, xt).expect("fused")
                } else {
                    lin.forward(xt)
                };
                y = o.as_vec();
                grads = (o * w.clone()).sum().backward();
            }
            [
                y,
                grads.get(&x).as_vec(),
                grads.get(&lin.weight).as_vec(),
                grads.get(&lin.bias).as_vec(),
            ]
        };
        for passes in [1, 2] {
            let (a, b) = (run(true, passes), run(false, passes));
            for (what, (a, b)) in ["y", "dx", "dweight", "dbias"].iter().zip(a.iter().zip(&b)) {
                close(what, a, b);
            }
        }
    }

    #[test]
    fn linear_reads_strided_inputs_and_runs_without_a_tape() {
        let dev = Cpu::seed_from_u64(15);
        let lin: Linear<12, 7, f32, Cpu> = Linear {
            weight: dev.sample_normal(),
            bias: dev.sample_normal(),
        };
        let x: Tensor<Rank3<4, 12, 5>, f32, Cpu> = dev.sample_normal();
        let run = |fused: bool| {
            let xt = x.leaky_trace().permute::<Rank3<4, 5, 12>, _>(); // strided
            let y = if fused {
                linear(&lin, xt).expect("fused")
            } else {
                lin.forward(xt)
            };
            let v = y.as_vec();
            let g = y.square().sum().backward();
            (v, g.get(&x).as_vec(), g.get(&lin.weight).as_vec())
        };
        let (a, b) = (run(true), run(false));
        close("y", &a.0, &b.0);
        close("dx", &a.1, &b.1);
        close("dweight", &a.2, &b.2);
        let x: Tensor<Rank3<4, 5, 12>, f32, Cpu> = dev.sample_normal();
        let a = linear(&lin, x.clone()).expect("fused").as_vec();
        close("y no tape", &a, &lin.forward(x).as_vec());
    }

    #[test]
    fn linear_gradients_do_not_depend_on_thread_count() {
        let dev = Cpu::seed_from_u64(16);
        let lin: Linear<40, 24, f32, Cpu> = Linear {
            weight: dev.sample_normal(),
            bias: dev.sample_normal(),
        };
        let x: Tensor<(usize, Const<65>, Const<40>), f32, Cpu> =
            dev.sample_normal_like(&(16, Const, Const));
        let run = |threads: usize| {
            with_threads(threads, || {
                let y = linear(&lin, x.leaky_trace()).expect("fused");
                let v = y.as_vec();
                let g = y.square().sum().backward();
                (
                    v,
                    g.get(&x).as_vec(),
                    g.get(&lin.weight).as_vec(),
                    g.get(&lin.bias).as_vec(),
                )
            })
        };
        assert_eq!(run(1), run(3));
    }
}
