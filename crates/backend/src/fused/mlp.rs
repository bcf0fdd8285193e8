//! The transformer MLP without dropout — `fc1`, exact GELU, `fc2` — as one op: no dfdx
//! tensors (and no copies) between the three stages.
//!
//! Forward: `h = gelu(b₁ + x·W₁ᵀ)`, keeping GELU's derivative `d`; `y = b₂ + h·W₂ᵀ`.
//! Backward: `dh = dy·W₂ ⊙ d`, then [`super::linear`]'s products for both layers. It runs
//! exactly the arithmetic of `linear → gelu → linear` as separate fused ops, so the results
//! are the same bits; it only skips their copies, allocations and zeroed gradients.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use rayon::prelude::*;

use super::gelu::gelu_forward;
use super::linear::{backward_bias, backward_weight, forward as linear, input_grad};
use super::residual::{branch_op, Branch, BranchBackward};
use crate::cpu::{host, zeros, CHUNK_ELEMS};

/// `fc2(gelu(fc1(x)))` for tokens `x (B, T, D)`, `F > 0` (the caller checks).
#[allow(clippy::type_complexity)]
pub(crate) fn mlp<B: Dim, Tok: Dim, const D: usize, const F: usize, T: Tape<f32, Cpu>>(
    fc1: &Linear<D, F, f32, Cpu>,
    fc2: &Linear<F, D, f32, Cpu>,
    x: Tensor<(B, Tok, Const<D>), f32, Cpu, T>,
) -> Result<Tensor<(B, Tok, Const<D>), f32, Cpu, T>, CpuError> {
    branch_op(x, MlpBranch { fc1, fc2 })
}

/// The MLP as a [`Branch`].
pub(crate) struct MlpBranch<'a, const D: usize, const F: usize> {
    pub fc1: &'a Linear<D, F, f32, Cpu>,
    pub fc2: &'a Linear<F, D, f32, Cpu>,
}

impl<const D: usize, const F: usize> Branch for MlpBranch<'_, D, F> {
    fn run(self, x: Vec<f32>, rows: usize, keep: bool) -> (Vec<f32>, Option<BranchBackward>) {
        let (fc1, fc2) = (self.fc1, self.fc2);
        let (w1, w2) = (host(&fc1.weight), host(&fc2.weight)); // (F, D), (D, F)
        let mut h = linear(&x, &w1, &host(&fc1.bias), rows); // (N, F)
        let mut d = if keep { zeros(h.len()) } else { Vec::new() };
        gelu_forward(&mut h, &mut d);
        let y = linear(&h, &w2, &host(&fc2.bias), rows); // (N, D)
        if !keep {
            return (y, None);
        }
        let (w1_g, b1_g) = (fc1.weight.ghost(), fc1.bias.ghost());
        let (w2_g, b2_g) = (fc2.weight.ghost(), fc2.bias.ghost());
        let backward: BranchBackward = Box::new(move |g, grads| {
            grads.try_alloc_for(&w1_g)?;
            grads.try_alloc_for(&b1_g)?;
            grads.try_alloc_for(&w2_g)?;
            grads.try_alloc_for(&b2_g)?;
            let mut dh = input_grad(g, &w2, rows); // (N, F)
            backward_weight(g, &h, rows, grad_mut!(grads, w2_g));
            backward_bias(g, grad_mut!(grads, b2_g));
            dh.par_chunks_mut(CHUNK_ELEMS)
                .zip(d.par_chunks(CHUNK_ELEMS))
                .for_each(|(dh, d)| dh.iter_mut().zip(d).for_each(|(g, d)| *g *= d));
            let dx = input_grad(&dh, &w1, rows); // (N, D)
            backward_weight(&dh, &x, rows, grad_mut!(grads, w1_g));
            backward_bias(&dh, grad_mut!(grads, b1_g));
            Ok(dx)
        });
        (y, Some(backward))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::compose::gelu as gelu_ops;
    use crate::fused::tests::close;
    use crate::fused::{gelu as gelu_cpu, linear as linear_op};
    use dfdx::nn::Module;

    type X<T> = Tensor<(usize, Const<9>, Const<12>), f32, Cpu, T>;

    /// Random `fc1` and `fc2`.
    fn layers(dev: &Cpu) -> (Linear<12, 40, f32, Cpu>, Linear<40, 12, f32, Cpu>) {
        let fc1 = Linear {
            weight: dev.sample_normal(),
            bias: dev.sample_normal(),
        };
        let fc2 = Linear {
            weight: dev.sample_normal(),
            bias: dev.sample_normal(),
        };
        (fc1, fc2)
    }

    /// y, dx, dW₁, db₁, dW₂, db₂ of `f` with loss Σ y·w, accumulated `passes` times.
    fn run<F>(passes: usize, f: F) -> [Vec<f32>; 6]
    where
        F: Fn(
            &Linear<12, 40, f32, Cpu>,
            &Linear<40, 12, f32, Cpu>,
            X<OwnedTape<f32, Cpu>>,
        ) -> X<OwnedTape<f32, Cpu>>,
    {
        let dev = Cpu::seed_from_u64(31);
        let (fc1, fc2) = layers(&dev);
        let x: X<NoneTape> = dev.sample_normal_like(&(50, Const, Const));
        let w: X<NoneTape> = dev.sample_normal_like(&(50, Const, Const));
        let mut grads = Gradients::leaky();
        let mut y = Vec::new();
        for _ in 0..passes {
            let o = f(&fc1, &fc2, x.trace(grads));
            y = o.as_vec();
            grads = (o * w.clone()).sum().backward();
        }
        [
            y,
            grads.get(&x).as_vec(),
            grads.get(&fc1.weight).as_vec(),
            grads.get(&fc1.bias).as_vec(),
            grads.get(&fc2.weight).as_vec(),
            grads.get(&fc2.bias).as_vec(),
        ]
    }

    #[test]
    fn mlp_is_the_chain_of_fused_ops_bit_for_bit_and_near_dfdx() {
        for passes in [1, 2] {
            let one = run(passes, |fc1, fc2, x| mlp(fc1, fc2, x).expect("fused"));
            let chain = run(passes, |fc1, fc2, x| {
                let h = gelu_cpu(linear_op(fc1, x).expect("fc1")).expect("gelu");
                linear_op(fc2, h).expect("fc2")
            });
            assert_eq!(one, chain, "passes {passes}");
            let dfdx = run(passes, |fc1, fc2, x| {
                fc2.forward(gelu_ops(fc1.forward(x)).expect("gelu"))
            });
            let names = [
                "y",
                "dx",
                "dfc1.weight",
                "dfc1.bias",
                "dfc2.weight",
                "dfc2.bias",
            ];
            for (what, (a, b)) in names.iter().zip(one.iter().zip(&dfdx)) {
                close(what, a, b);
            }
        }
    }

    #[test]
    fn mlp_runs_without_a_tape() {
        let dev = Cpu::seed_from_u64(32);
        let (fc1, fc2) = layers(&dev);
        let x: X<NoneTape> = dev.sample_normal_like(&(3, Const, Const));
        let a = mlp(&fc1, &fc2, x.clone()).expect("fused").as_vec();
        let b = linear_op(
            &fc2,
            gelu_cpu(linear_op(&fc1, x).expect("fc1")).expect("gelu"),
        )
        .expect("fc2")
        .as_vec();
        assert_eq!(a, b);
    }
}
