//! The stochastic parts of a training forward pass: dropout and stochastic depth (DropPath).
//!
//! Both are applied only by `Deit::try_forward_train`, whose input carries an `OwnedTape`;
//! the eval forward passes zero rates, which skip the ops entirely.
//!
//! Every mask of a step comes from counters ([`DropPath`], [`Dropout`]), so it is the same
//! bits on the CPU and the GPU, and depends only on the step's seed
//! ([`Regularization::seed`]):
//! - block i has the seed `seed + 2i`; its two stochastic-depth branches draw the streams
//!   `seed + 2i` and `seed + 2i + 1`;
//! - each dropout site has a stream of its own, [`dropout_seed`] of its block's seed and
//!   its [`Site`] (DeiT's dropout after the position embedding and the ConvNet's before its
//!   head use the step's seed, block 0's, with [`Site::Embedding`]). The map from (block seed, site) to stream is one-to-one — `block seed +
//!   site·γ` differs for every block and site (block seeds are a small even distance
//!   apart, the multiples of SplitMix64's γ by 1 to 4 are far from any small number), and
//!   the XOR and SplitMix64's output function are bijections — so no two sites share a
//!   stream, and the hashed streams meet the stochastic-depth ones with a probability of
//!   the order of (elements drawn)²/2⁶⁴.

use dfdx::prelude::*;

use super::init::SplitMix64;
use super::Tokens;
use crate::device::{DropPath, Dropout, Kernels};
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
    /// Where the masks come from: block i's stochastic-depth branches use streams
    /// `seed + 2i` and `seed + 2i + 1`, its dropout sites [`dropout_seed`] of `seed + 2i`,
    /// so a step's masks depend only on this value (set it per step for reproducible,
    /// resumable training) and are the same on every device.
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

/// Where a dropout draws in a forward pass: the site index of [`dropout_seed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// After the attention branch's `proj`.
    Attention = 0,
    /// After the MLP's GELU.
    MlpHidden = 1,
    /// After the MLP's `fc2`.
    MlpOut = 2,
    /// Before the first block: after DeiT's position embedding, before the ConvNet's head.
    Embedding = 3,
}

/// Distinguishes dropout streams from stochastic depth's, whose seeds are the block seeds
/// themselves (SHA-512's first initial word).
const DROPOUT_TAG: u64 = 0x6A09_E667_F3BC_C908;

/// SplitMix64's increment γ.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The stream of dropout site `site` of the block whose seed is `seed` (see the module
/// docs): SplitMix64's first output from `(seed + site·γ) ^ TAG`, one-to-one in
/// `(seed, site)`.
pub(crate) fn dropout_seed(seed: u64, site: Site) -> u64 {
    let state = seed.wrapping_add((site as u64).wrapping_mul(GAMMA)) ^ DROPOUT_TAG;
    SplitMix64::new(state).next_u64()
}

/// The draw of dropout site `site` at `rate` of the block whose seed is `seed`; `None`
/// when `rate ≤ 0`.
pub(crate) fn dropout_at(rate: f64, seed: u64, site: Site) -> Option<Dropout> {
    Dropout::new(rate, dropout_seed(seed, site))
}

/// Inverted dropout at `rate` at site `site` of the block whose seed is `seed`
/// ([`Kernels::dropout`]); the identity when `rate ≤ 0`.
pub(crate) fn dropout<S: Shape, E: Dtype, D: Kernels<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    rate: f64,
    seed: u64,
    site: Site,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    D::dropout(x, dropout_at(rate, seed, site))
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
    fn dropout_drops_at_its_rate_and_scales_what_it_keeps() {
        let dev = Cpu::default();
        let n = 20_000;
        let x: Tensor<(usize, usize, Const<4>), f32, _> = dev.ones_like(&(n / 4, 1, Const));
        for rate in [0.1, 0.5] {
            let y = dropout(x.leaky_trace(), rate, 3, Site::MlpHidden).unwrap();
            let v = y.as_vec();
            let kept = (1.0 / (1.0 - rate)) as f32;
            assert!(v.iter().all(|&s| s == 0.0 || s == kept));
            let dropped = v.iter().filter(|&&s| s == 0.0).count() as f64 / n as f64;
            assert!((dropped - rate).abs() < 0.02, "rate {rate}: {dropped}");
            // The backward multiplies by the same mask.
            let g = y.sum().backward();
            assert_eq!(g.get(&x).as_vec(), v);
        }
    }

    #[test]
    fn every_dropout_site_of_every_block_has_a_stream_of_its_own() {
        let sites = [
            Site::Attention,
            Site::MlpHidden,
            Site::MlpOut,
            Site::Embedding,
        ];
        for step_seed in [0, 1, u64::MAX - 3, 0x1234_5678_9ABC_DEF0] {
            let mut streams = std::collections::HashSet::new();
            for block in 0..24u64 {
                let seed = step_seed.wrapping_add(2 * block);
                // The stochastic-depth streams of the block.
                assert!(streams.insert(seed) && streams.insert(seed.wrapping_add(1)));
                for site in sites {
                    assert!(streams.insert(dropout_seed(seed, site)), "{block} {site:?}");
                }
            }
        }
        // Same inputs, same stream: reproducible.
        assert_eq!(dropout_seed(9, Site::MlpOut), dropout_seed(9, Site::MlpOut));
        assert_eq!(dropout_at(0.0, 9, Site::MlpOut), None);
    }

    #[test]
    fn zero_rates_are_the_identity() {
        let dev = Cpu::seed_from_u64(0);
        let x: Tensor<(usize, usize, Const<3>), f32, _> = dev.sample_normal_like(&(2, 5, Const));
        assert_eq!(drop_path(x.clone(), 0.0, 0).unwrap().as_vec(), x.as_vec());
        assert_eq!(
            dropout(x.clone(), 0.0, 5, Site::Attention)
                .unwrap()
                .as_vec(),
            x.as_vec()
        );
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
