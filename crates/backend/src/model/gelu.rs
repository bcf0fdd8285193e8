//! Exact (erf) GELU with a correct gradient.
//!
//! dfdx 0.13's `accurate_gelu` computes the right forward value, `x·Φ(x)`, but its backward
//! (CPU and CUDA kernels alike) returns `Φ(x) + √2·x·φ(x)` instead of `Φ(x) + x·φ(x)`
//! (φ the standard normal density): the `x·φ(x)` term is missing a factor 1/√2. We keep
//! dfdx's forward and add `c·(φ(x) − stop_grad(φ(x)))` with c = √2 − 1: that is exactly zero
//! in value (the same ops on the same input), and its derivative `−c·x·φ(x)` cancels the
//! excess. Without a tape the correction is skipped.
//!
//! On the CPU with f32 the GELU is one fused op instead (`fused::gelu_cpu`: the same
//! formula with a vectorised `erf`, the backward `Φ(x) + x·φ(x)` computed in the same pass).

use dfdx::prelude::*;

use super::fused::{fused, gelu_cpu};

/// `0.5·x·(1 + erf(x/√2))`, the GELU of PyTorch's `nn.GELU()`.
pub(crate) fn gelu<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    if fused::<E, D>() {
        gelu_cpu(x)
    } else {
        gelu_ops(x)
    }
}

/// [`gelu`] from dfdx ops: `accurate_gelu` plus the gradient correction.
pub(crate) fn gelu_ops<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    if !T::OWNS_TAPE {
        return x.try_accurate_gelu();
    }
    let (x, tape) = x.split_tape();
    let y = x.clone().put_tape(tape).try_accurate_gelu()?;
    // c·φ(x) = c/√(2π) · exp(−x²/2), taped and (a copy with a new id) untaped.
    let c = (std::f64::consts::SQRT_2 - 1.0) / std::f64::consts::TAU.sqrt();
    let scaled_phi = |x: Tensor<S, E, D, T>| {
        x.try_square()?
            .try_mul(E::from_f64(-0.5).unwrap_or_default())?
            .try_exp()?
            .try_mul(E::from_f64(c).unwrap_or_default())
    };
    let (phi, phi_tape) = scaled_phi(x.retaped::<T>())?.split_tape();
    let frozen = phi.clone().try_mul(E::from_f64(1.0).unwrap_or_default())?;
    y.try_add(phi.put_tape(phi_tape).try_sub(frozen)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf_gelu(x: f64) -> f64 {
        // Finite differences of the forward dfdx computes, in f64.
        let dev = Cpu::default();
        let t: Tensor<Rank1<1>, f64, _> = dev.tensor([x]);
        t.accurate_gelu().array()[0]
    }

    #[test]
    fn value_is_dfdx_accurate_gelu_and_gradient_is_exact() {
        let dev = Cpu::default();
        let xs = [-3.0, -1.5, -0.3, 0.0, 0.2, 1.0, 2.5];
        let x: Tensor<Rank1<7>, f64, _> = dev.tensor(xs);
        let y = gelu(x.leaky_trace()).unwrap();
        assert_eq!(y.array(), x.clone().accurate_gelu().array());
        let g = y.sum().backward().get(&x).array();
        for (i, &xi) in xs.iter().enumerate() {
            let h = 1e-6;
            let fd = (erf_gelu(xi + h) - erf_gelu(xi - h)) / (2.0 * h);
            assert!((g[i] - fd).abs() < 1e-8, "x = {xi}: {} vs {fd}", g[i]);
        }
    }
}
