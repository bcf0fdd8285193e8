//! timm's `Mixup` in `mode='batch'` (0.3.2 semantics, `correct_lam = True`,
//! no `cutmix_minmax`), on a normalised B×C×H×W batch, in place.
//!
//! One λ per batch; the partner of sample `i` is sample `B−1−i` (the reversed batch).
//! ```text
//! λ = 1; cutmix = false
//! if U < prob:
//!     both on:     cutmix = U < switch_prob; λ ~ Beta(cutmix_α) if cutmix else Beta(mixup_α)
//!     mixup only:  λ ~ Beta(mixup_α)
//!     cutmix only: cutmix = true; λ ~ Beta(cutmix_α)
//! if λ ≠ 1:
//!     cutmix: r = √(1−λ); ch, cw = ⌊H·r⌋, ⌊W·r⌋; cy ~ randint[0, H), cx ~ randint[0, W)
//!             y0,y1 = clip(cy ∓ ch//2, 0, H); x0,x1 likewise
//!             x[:, :, y0:y1, x0:x1] = x.flip(0)[:, :, y0:y1, x0:x1]
//!             λ = 1 − (y1−y0)(x1−x0)/(H·W)
//!     mixup:  x = λ·x + (1−λ)·x.flip(0)
//! targets = λ·onehot_s(y) + (1−λ)·onehot_s(y.flip(0)),  onehot_s: off = s/K, on = 1 − s + s/K
//! ```
//! Beta draws use [`Stream::beta`](super::rng::Stream::beta) (two Gamma draws); numpy
//! uses another algorithm for the same distribution, so λ values match in law, not bit for
//! bit.

use super::rng::Stream;
use super::DataError;
use crate::ir::Mix;

/// The cutmix rectangle `[y0, y1) × [x0, x1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutBox {
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
}

/// The result of mixing a batch (the images are mixed in place).
#[derive(Debug, Clone, PartialEq)]
pub struct Mixed {
    /// B×K soft targets.
    pub targets: Vec<f32>,
    /// The λ the targets use (after the cutmix correction); 1 when nothing was mixed.
    pub lam: f64,
    /// The pasted box, when cutmix was used.
    pub cutmix: Option<CutBox>,
}

/// Smoothed one-hot targets, B×K: `off = s/K`, `on = 1 − s + s/K`.
pub fn smooth_targets(labels: &[u16], classes: usize, smoothing: f64) -> Vec<f32> {
    mixed_targets(labels, classes, smoothing, 1.0)
}

/// `λ·onehot_s(y) + (1−λ)·onehot_s(y reversed)`, B×K, computed in f64.
pub fn mixed_targets(labels: &[u16], classes: usize, smoothing: f64, lam: f64) -> Vec<f32> {
    let off = smoothing / classes as f64;
    let on = 1.0 - smoothing + off;
    let b = labels.len();
    let mut t = vec![0f32; b * classes];
    for (i, row) in t.chunks_exact_mut(classes.max(1)).enumerate() {
        let (y, yf) = (labels[i] as usize, labels[b - 1 - i] as usize);
        for (k, v) in row.iter_mut().enumerate() {
            let a = if k == y { on } else { off };
            let f = if k == yf { on } else { off };
            *v = (lam * a + (1.0 - lam) * f) as f32;
        }
    }
    t
}

/// Mixup/CutMix settings plus the label smoothing and class count of the targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixer {
    pub mixup_alpha: f64,
    pub cutmix_alpha: f64,
    pub prob: f64,
    pub switch_prob: f64,
    pub smoothing: f64,
    pub classes: usize,
}

impl Mixer {
    /// `None` when neither mixup nor cutmix is on.
    pub fn new(mix: &Mix, smoothing: f64, classes: usize) -> Option<Self> {
        (mix.mixup > 0.0 || mix.cutmix > 0.0).then_some(Mixer {
            mixup_alpha: mix.mixup,
            cutmix_alpha: mix.cutmix,
            prob: mix.prob,
            switch_prob: mix.switch_prob,
            smoothing,
            classes,
        })
    }

    /// Draws `(λ, use_cutmix)` for one batch (timm's `_params_per_batch`).
    pub fn params(&self, rng: &mut Stream) -> (f64, bool) {
        if rng.uniform() >= self.prob {
            return (1.0, false);
        }
        let (a, cutmix) = match (self.mixup_alpha > 0.0, self.cutmix_alpha > 0.0) {
            (true, true) => {
                let cutmix = rng.uniform() < self.switch_prob;
                let a = if cutmix {
                    self.cutmix_alpha
                } else {
                    self.mixup_alpha
                };
                (a, cutmix)
            }
            (true, false) => (self.mixup_alpha, false),
            (false, true) => (self.cutmix_alpha, true),
            (false, false) => return (1.0, false),
        };
        (rng.beta(a, a), cutmix)
    }

    /// Mixes `images` (B×C×H×W, `labels.len()` = B) in place and returns the soft targets.
    pub fn apply(
        &self,
        images: &mut [f32],
        labels: &[u16],
        (channels, height, width): (usize, usize, usize),
        rng: &mut Stream,
    ) -> Result<Mixed, DataError> {
        let b = labels.len();
        if !b.is_multiple_of(2) {
            return Err(DataError::OddBatch { batch: b });
        }
        let per = channels * height * width;
        if images.len() != b * per {
            return Err(DataError::Config {
                field: "train.batch".into(),
                message: format!(
                    "mixup got {} values for {b} images of {channels}×{height}×{width}",
                    images.len()
                ),
            });
        }
        let (mut lam, cutmix) = self.params(rng);
        let mut cut = None;
        if lam != 1.0 {
            let (first, second) = images.split_at_mut(b / 2 * per);
            if cutmix {
                let bx = cut_box(lam, height, width, rng);
                for i in 0..b / 2 {
                    let j = b / 2 - 1 - i; // partner B−1−i, indexed within `second`
                    let (x, y) = (
                        &mut first[i * per..(i + 1) * per],
                        &mut second[j * per..(j + 1) * per],
                    );
                    for c in 0..channels {
                        for row in bx.y0..bx.y1 {
                            let at = (c * height + row) * width;
                            x[at + bx.x0..at + bx.x1]
                                .swap_with_slice(&mut y[at + bx.x0..at + bx.x1]);
                        }
                    }
                }
                lam = 1.0 - ((bx.y1 - bx.y0) * (bx.x1 - bx.x0)) as f64 / (height * width) as f64;
                cut = Some(bx);
            } else {
                let (l, m) = (lam as f32, (1.0 - lam) as f32);
                for i in 0..b / 2 {
                    let j = b / 2 - 1 - i;
                    let x = &mut first[i * per..(i + 1) * per];
                    let y = &mut second[j * per..(j + 1) * per];
                    for (a, c) in x.iter_mut().zip(y.iter_mut()) {
                        let (va, vc) = (*a, *c);
                        *a = va * l + vc * m;
                        *c = vc * l + va * m;
                    }
                }
            }
        }
        Ok(Mixed {
            targets: mixed_targets(labels, self.classes, self.smoothing, lam),
            lam,
            cutmix: cut,
        })
    }
}

/// timm's `rand_bbox` (margin 0, count 1).
pub fn cut_box(lam: f64, height: usize, width: usize, rng: &mut Stream) -> CutBox {
    let r = (1.0 - lam).max(0.0).sqrt();
    let (ch, cw) = ((height as f64 * r) as usize, (width as f64 * r) as usize);
    let cy = rng.below(height as u64) as usize;
    let cx = rng.below(width as u64) as usize;
    CutBox {
        y0: cy.saturating_sub(ch / 2),
        y1: (cy + ch / 2).min(height),
        x0: cx.saturating_sub(cw / 2),
        x1: (cx + cw / 2).min(width),
    }
}
