//! timm's initialisation, as dfdx `reset` hooks (so `BuildModule::build` and
//! `ResetParams::reset_params` both give it).
//!
//! * Linear weights, `cls_token`, `dist_token`, `pos_embed`: trunc-normal, std 0.02, cut at
//!   ±2 *absolute* (timm's `trunc_normal_(std=.02)`, so effectively N(0, 0.02²)).
//! * Linear biases 0; LayerNorm weight 1, bias 0.
//! * The patch embedding keeps PyTorch's Conv2d default, `kaiming_uniform_(a=√5)`, i.e.
//!   U(±1/√fan_in) with fan_in = C·P·P, and the same bound for its bias (timm's
//!   `_init_weights` only touches Linear and LayerNorm). This is also dfdx's `Linear` default.
//!
//! dfdx 0.13 does not re-export `rand`/`rand_distr`, so the samples come from a SplitMix64
//! stream seeded by the tensor's device (`RandomU64`): reproducible under `Cpu::seed_from_u64`.

use dfdx::nn::TensorOptions;
use dfdx::prelude::*;

/// A SplitMix64 generator: small, fast, and good enough for initialisation and masks.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Fills `t` with `sample(rng)` per element, from a stream seeded by `t`'s device.
fn fill<S: Shape, E: Dtype, D: Device<E>>(
    t: &mut Tensor<S, E, D>,
    mut sample: impl FnMut(&mut SplitMix64) -> f64,
) -> Result<(), D::Err> {
    let mut rng = SplitMix64::new(t.device().random_u64());
    let values: Vec<E> = (0..t.shape().num_elements())
        .map(|_| E::from_f64(sample(&mut rng)).unwrap_or_default())
        .collect();
    t.copy_from(&values);
    Ok(())
}

/// timm's `trunc_normal_(std=.02)`: N(0, 0.02²) resampled outside [-2, 2].
pub(crate) fn trunc_normal<S: ConstShape, E: Dtype, D: Device<E>>() -> TensorOptions<S, E, D> {
    TensorOptions::reset_with(|t| {
        fill(t, |rng| loop {
            let v = 0.02 * rng.normal();
            if (-2.0..=2.0).contains(&v) {
                break v;
            }
        })
    })
}

/// PyTorch's Conv2d/Linear default for both weight and bias: U(±1/√FAN_IN).
pub(crate) fn fan_in_uniform<const FAN_IN: usize, S: ConstShape, E: Dtype, D: Device<E>>(
) -> TensorOptions<S, E, D> {
    TensorOptions::reset_with(|t| {
        let bound = 1.0 / (FAN_IN as f64).sqrt();
        fill(t, |rng| bound * (2.0 * rng.uniform() - 1.0))
    })
}

pub(crate) fn zeros<S: ConstShape, E: Dtype, D: Device<E>>() -> TensorOptions<S, E, D> {
    TensorOptions::reset_to_zeros()
}

pub(crate) fn ones<S: ConstShape, E: Dtype, D: Device<E>>() -> TensorOptions<S, E, D> {
    TensorOptions::reset_to_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_and_uniform_have_the_right_moments() {
        let mut rng = SplitMix64::new(7);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
        let us: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        assert!(us.iter().all(|u| (0.0..1.0).contains(u)));
        assert!((us.iter().sum::<f64>() / n as f64 - 0.5).abs() < 0.01);
    }
}
