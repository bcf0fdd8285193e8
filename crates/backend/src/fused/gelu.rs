//! Exact GELU `x·Φ(x)` as one op: dfdx's `accurate_gelu` formula with the vectorised `erf`
//! of [`crate::cpu`] (within 5e-7 of libm's), and the backward `Φ(x) + x·φ(x)` computed in
//! the same pass (dfdx's own backward is missing a factor 1/√2; see
//! [`crate::device::compose::gelu`]).

use dfdx::prelude::*;
use rayon::prelude::*;

use crate::cpu::{device_tensor, erf, exp, host, simd, zeros, Kernel, CHUNK_ELEMS};

/// Exact GELU `x·Φ(x)`: dfdx's `accurate_gelu`
/// formula with the vectorised `erf` of [`crate::cpu`] (within 5e-7 of libm's), and the backward
/// Φ(x) + x·φ(x), both from one pass.
pub(crate) fn gelu<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
) -> Result<Tensor<S, f32, Cpu, T>, CpuError> {
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
    let out = device_tensor(x.device(), y, shape)?;
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
pub(super) fn gelu_forward(x: &mut [f32], d: &mut [f32]) {
    if d.is_empty() {
        x.par_chunks_mut(CHUNK_ELEMS)
            .for_each(|x| simd(Gelu { x, d: &mut [] }));
        return;
    }
    x.par_chunks_mut(CHUNK_ELEMS)
        .zip(d.par_chunks_mut(CHUNK_ELEMS))
        .for_each(|(x, d)| simd(Gelu { x, d }));
}

/// [`gelu_forward`] on one chunk (`d` empty, or as long as `x`).
struct Gelu<'a> {
    x: &'a mut [f32],
    d: &'a mut [f32],
}

impl Kernel for Gelu<'_> {
    #[inline(always)]
    fn run(self) {
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
    use crate::device::compose::gelu as gelu_ops;
    use crate::fused::tests::close;

    #[test]
    fn gelu_matches_dfdx_with_accumulation() {
        let dev = Cpu::seed_from_u64(11);
        let x: Tensor<Rank2<7, 300>, f32, Cpu> = dev.sample_normal::<Rank2<7, 300>>() * 2.0;
        let w: Tensor<Rank2<7, 300>, f32, Cpu> = dev.sample_normal();
        let run = |fused: bool, passes: usize| {
            let mut grads = Gradients::leaky();
            let mut y = Vec::new();
            for _ in 0..passes {
                let (xt, tape) = x.trace(grads).split_tape();
                let h = if fused {
                    gelu(xt.clone().put_tape(tape)).expect("fused")
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
        let a = gelu(x.clone()).expect("fused").as_vec();
        near(&a, &x.accurate_gelu().as_vec());
    }
}
