//! Stochastic depth's per-sample scaling, `x (B, T, D)` with sample b multiplied by
//! `scales[b]`, as one op: one pass forward and one backward, `dx += g·s_b`.

use dfdx::prelude::*;
use rayon::prelude::*;

use crate::cpu::{device_tensor, host};

/// `x (B, T, D)` with sample b multiplied by `scales[b]` (stochastic depth's mask).
#[allow(clippy::type_complexity)]
pub(crate) fn scale_samples<Tok: Dim, const M: usize, T: Tape<f32, Cpu>>(
    x: Tensor<(usize, Tok, Const<M>), f32, Cpu, T>,
    scales: Vec<f32>,
) -> Result<Tensor<(usize, Tok, Const<M>), f32, Cpu, T>, CpuError> {
    let shape = *x.shape();
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let per_sample = shape.1.size() * M;
    let mut y = host(&x); // (B, T, D)
    if per_sample > 0 {
        y.par_chunks_mut(per_sample)
            .zip(&scales)
            .for_each(|(y, &s)| y.iter_mut().for_each(|v| *v *= s));
    }
    let out = device_tensor(x.device(), y, shape)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::tests::close;

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
}
