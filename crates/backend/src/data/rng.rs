//! Counter-based random streams: every draw is a pure function of
//! `(purpose, seed, epoch, index)`.
//!
//! A [`Stream`] starts from a SplitMix64 hash of the four words and then steps SplitMix64
//! (Steele, Lea, Flood 2014). Because each sample (and each batch) gets its own stream,
//! the augmentation of sample `i` in epoch `e` is the same whichever thread computes it
//! and in whatever order, so results are independent of the thread count. This is not a
//! cryptographic generator; it only has to be well mixed and reproducible.

use std::f64::consts::PI;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// What a stream is used for; keeps, e.g., the shuffle of epoch 3 independent of the
/// augmentation of sample 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The epoch's permutation (index unused, 0).
    Shuffle = 1,
    /// One sample's augmentation (index = position in the epoch).
    Sample = 2,
    /// One batch's mixup/cutmix (index = batch number).
    Batch = 3,
    /// Generated data (epoch unused, index = sample).
    Synthetic = 4,
}

/// SplitMix64's output function (a bijective 64-bit mixer).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic random stream (SplitMix64 seeded by hashing its key).
#[derive(Debug, Clone)]
pub struct Stream {
    state: u64,
}

impl Stream {
    /// The stream for `purpose` at `(seed, epoch, index)`.
    pub fn new(purpose: Purpose, seed: u64, epoch: u64, index: u64) -> Self {
        let mut h = mix64(seed.wrapping_add(GOLDEN));
        for word in [purpose as u64, epoch, index] {
            h = mix64(h ^ mix64(word.wrapping_add(GOLDEN)).wrapping_add(h << 6));
        }
        Stream { state: h }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n) (Lemire's multiply-shift with rejection: unbiased).
    /// Returns 0 for n = 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform integer in [lo, hi], both ends included (Python's `random.randint`).
    /// Returns `lo` when `hi < lo`.
    pub fn int_inclusive(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    /// A standard normal draw (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }

    /// A Gamma(shape, 1) draw (Marsaglia–Tsang; shape < 1 via the `U^(1/shape)` boost).
    /// Returns 0 for a shape ≤ 0 or not finite.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if !(shape > 0.0 && shape.is_finite()) {
            return 0.0;
        }
        if shape < 1.0 {
            let u = 1.0 - self.uniform(); // (0, 1]
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let t = 1.0 + c * x;
            if t <= 0.0 {
                continue;
            }
            let v = t * t * t;
            let u = self.uniform();
            if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }

    /// A Beta(a, b) draw as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y > 0.0 {
            x / (x + y)
        } else {
            // Both underflowed (tiny shapes put the mass at the ends): pick an end.
            if self.uniform() < a / (a + b) {
                1.0
            } else {
                0.0
            }
        }
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = {
            let mut s = Stream::new(Purpose::Sample, 1, 2, 3);
            (0..4).map(|_| s.next_u64()).collect()
        };
        let mut s = Stream::new(Purpose::Sample, 1, 2, 3);
        assert_eq!(a, (0..4).map(|_| s.next_u64()).collect::<Vec<_>>());
        for (p, seed, e, i) in [
            (Purpose::Batch, 1, 2, 3),
            (Purpose::Sample, 0, 2, 3),
            (Purpose::Sample, 1, 3, 3),
            (Purpose::Sample, 1, 2, 4),
            (Purpose::Sample, 1, 3, 2),
        ] {
            assert_ne!(a[0], Stream::new(p, seed, e, i).next_u64());
        }
    }

    #[test]
    fn below_and_uniform_stay_in_range() {
        let mut s = Stream::new(Purpose::Shuffle, 7, 0, 0);
        let mut seen = [0usize; 5];
        for _ in 0..5000 {
            let u = s.uniform();
            assert!((0.0..1.0).contains(&u));
            seen[s.below(5) as usize] += 1;
            assert!((2..=4).contains(&s.int_inclusive(2, 4)));
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }

    #[test]
    fn normal_and_gamma_moments() {
        let mut s = Stream::new(Purpose::Batch, 3, 0, 0);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        for shape in [0.3, 0.8, 1.0, 2.5] {
            let g = (0..n).map(|_| s.gamma(shape)).sum::<f64>() / n as f64;
            assert!((g - shape).abs() < 0.05 * shape.max(1.0), "{shape}: {g}");
        }
    }
}
