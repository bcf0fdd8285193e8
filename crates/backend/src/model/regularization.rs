//! The stochastic parts of a training forward pass: dropout and stochastic depth (DropPath).
//!
//! Both are applied only by `Deit::try_forward_train`, whose input carries an `OwnedTape`;
//! the eval forward passes zero rates, which skip the ops entirely.

use dfdx::prelude::*;

use super::Tokens;
use crate::device::{DropPath, Kernels};
use crate::ir;

/// Rates for one training forward pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Regularization {
    /// Dropout after the position embedding, after `attn.proj`, after the MLP's GELU and
    /// after `mlp.fc2` (timm's `drop_rate`; attention-weight dropout is not modelled).
    pub dropout: f64,
    /// Stochastic depth of the last block; block i drops with `linspace(0, drop_path,
    /// depth)[i]`.
    pub drop_path: f64,
    /// Where stochastic-depth masks come from: block i's branches use streams `seed + 2i`
    /// and `seed + 2i + 1`, so a step's masks depend only on this value (set it per step
    /// for reproducible, resumable training). Dropout uses the device's generator.
    pub seed: u64,
}

impl Regularization {
    pub fn of(model: &ir::Model) -> Regularization {
        Regularization {
            dropout: model.dropout,
            drop_path: model.drop_path,
            seed: 0,
        }
    }

    /// `linspace(0, drop_path, depth)[i]`.
    pub fn drop_path_at(&self, i: usize, depth: usize) -> f64 {
        if depth <= 1 {
            0.0
        } else {
            self.drop_path * i as f64 / (depth - 1) as f64
        }
    }
}

/// Inverted dropout with probability `p`; the identity when `p == 0`.
pub(crate) fn dropout<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    p: f64,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    if p > 0.0 {
        x.try_dropout(p)
    } else {
        Ok(x)
    }
}

/// Stochastic depth on a residual branch `x` (B, T, D): each sample's whole branch is kept
/// with probability `1 - rate` and then scaled by `1 / (1 - rate)`, or zeroed (timm's
/// `drop_path` with `scale_by_keep`). The identity when `rate == 0`.
pub(crate) fn drop_path<Tok: Dim, const M: usize, E: Dtype, D: Kernels<E>, T: Tape<E, D>>(
    x: Tokens<Tok, M, E, D, T>,
    rate: f64,
    seed: u64,
) -> Result<Tokens<Tok, M, E, D, T>, D::Err> {
    match drop_path_scales(rate, seed, x.shape().0) {
        Some(mask) => D::scale_samples(x, mask), // (B, T, D)
        None => Ok(x),
    }
}

/// Stochastic depth's per-sample scales for `batch` samples: `1 / (1 - rate)` for a kept
/// sample, 0 for a dropped one, drawn from `seed` ([`DropPath::scales`]); `None` when
/// `rate ≤ 0`.
pub(crate) fn drop_path_scales<E: Dtype>(rate: f64, seed: u64, batch: usize) -> Option<Vec<E>> {
    DropPath::new(rate, seed).map(|d| d.scales(batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_path_masks_whole_samples_and_keeps_the_mean() {
        let dev = Cpu::seed_from_u64(0);
        let b = 4000;
        let x: Tensor<(usize, usize, Const<3>), f32, _> = dev.ones_like(&(b, 2, Const));
        let y = drop_path(x.leaky_trace(), 0.25, 7).unwrap();
        let v = y.as_vec();
        let mut dropped = 0;
        for sample in v.chunks(6) {
            assert!(
                sample.iter().all(|&s| s == sample[0]),
                "one mask per sample"
            );
            assert!(sample[0] == 0.0 || (sample[0] - 1.0 / 0.75).abs() < 1e-6);
            dropped += usize::from(sample[0] == 0.0);
        }
        let rate = dropped as f64 / b as f64;
        assert!((rate - 0.25).abs() < 0.03, "{rate}");
        // The backward pass uses the same mask.
        let g = y.sum().backward();
        let gx = g.get(&x).as_vec();
        assert_eq!(gx, v);
    }

    #[test]
    fn drop_path_scales_are_splitmix64s_sequential_stream() {
        // What the host drew before the draw became per-sample counters: the same bits.
        use crate::model::init::SplitMix64;
        for (rate, seed, batch) in [(0.1, 0, 5), (0.25, 7, 300), (0.5, u64::MAX, 64)] {
            let keep = 1.0 - rate;
            let mut rng = SplitMix64::new(seed);
            let want: Vec<f32> = (0..batch)
                .map(|_| match rng.uniform() < keep {
                    true => (1.0 / keep) as f32,
                    false => 0.0,
                })
                .collect();
            assert_eq!(drop_path_scales::<f32>(rate, seed, batch), Some(want));
        }
        assert_eq!(drop_path_scales::<f32>(0.0, 3, 8), None);
        assert_eq!(DropPath::new(-0.5, 3), None);
    }

    #[test]
    fn zero_rates_are_the_identity() {
        let dev = Cpu::seed_from_u64(0);
        let x: Tensor<(usize, usize, Const<3>), f32, _> = dev.sample_normal_like(&(2, 5, Const));
        assert_eq!(drop_path(x.clone(), 0.0, 0).unwrap().as_vec(), x.as_vec());
        assert_eq!(dropout(x.clone(), 0.0).unwrap().as_vec(), x.as_vec());
        let r = Regularization {
            dropout: 0.0,
            drop_path: 0.1,
            seed: 0,
        };
        assert_eq!(r.drop_path_at(0, 12), 0.0);
        assert!((r.drop_path_at(11, 12) - 0.1).abs() < 1e-12);
        assert_eq!(r.drop_path_at(0, 1), 0.0);
    }
}
