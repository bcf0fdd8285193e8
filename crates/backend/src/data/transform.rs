//! Per-sample transforms on u8 C×H×W images, producing normalised f32 C×H×W.
//!
//! Train, in timm's order (`transforms_imagenet_train`, with the official ≤ 32 px swap):
//!
//! 1. the geometric stage ([`Crop`]):
//!    * `random`: `RandomCrop(size, padding)` with zero padding (torchvision: pad, then
//!      `top ~ randint(0, H+2p−size)`, `left ~ randint(0, W+2p−size)`, inclusive), the
//!      official choice for inputs ≤ 32 px;
//!    * `random_resized`: timm's `RandomResizedCropAndInterpolation` ([`rrc_box`]) on the
//!      image at its own resolution, then PIL's resize of the box to `size × size`
//!      ([`resample`](super::resample)). timm 0.3.2 maps any interpolation name other than
//!      `bicubic` (and lanczos/hamming) to bilinear, so `nearest` resizes bilinearly here too;
//!    * `none`: the image as loaded (already `size × size`);
//! 2. horizontal flip with probability `hflip`;
//! 3. the auto-augmentation [`Policy`] (RandAugment or AutoAugment, [`policy`](super::policy))
//!    when one is set, otherwise [`ColorJitter`] when `augment.color_jitter` is set (timm's
//!    `if auto_augment: … elif color_jitter: …`);
//! 4. `ToTensor` (`v / 255`) → `Normalize` (`(x − mean) / std`, in f32 as torch does);
//! 5. [`Erasing`] if `augment.random_erasing` is set.
//!
//! Stages 1–3 work on u8 pixels, as PIL does; padded pixels are 0 before normalisation.
//! The draws come from the sample's stream in that order: the crop, the flip, the policy
//! or the jitter, the erasing.
//!
//! Eval is done while loading (`source::Fit::eval`): above 32 px the official
//! `Resize(int(size / eval_crop))` → `CenterCrop(size)`; at 32 px and below nothing (the
//! official `build_transform` resizes only when `input_size > 32`). The loader then only
//! normalises ([`Normalize`]).

use super::color::{ColorJitter, ColorOp};
use super::erasing::Erasing;
use super::policy::{Applied, Policy};
use super::resample::{self, Filter, Rect};
use super::rng::Stream;
use super::DataError;
use crate::ir::{Augment, CropKind, Interpolation};

/// `ToTensor` + `Normalize` as one lookup table per channel (exactly torch's f32 result).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    lut: Vec<[f32; 256]>,
    /// The mean in u8, `min(255, round(255·mean))` (round half to even, as Python): the
    /// fill colour of the policies' geometric ops, (124, 116, 104) for ImageNet.
    fill: Vec<u8>,
}

impl Normalize {
    /// One mean and one std per channel; std must be positive.
    pub fn new(mean: &[f64], std: &[f64], channels: usize) -> Result<Self, DataError> {
        if mean.len() != channels || std.len() != channels {
            return Err(DataError::Config {
                field: "data.mean".into(),
                message: format!(
                    "{} mean and {} std values for {channels} channel(s)",
                    mean.len(),
                    std.len()
                ),
            });
        }
        if let Some(s) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(DataError::Config {
                field: "data.std".into(),
                message: format!("std values must be positive, found {s}"),
            });
        }
        let lut = mean
            .iter()
            .zip(std)
            .map(|(&m, &s)| {
                let (m, s) = (m as f32, s as f32);
                std::array::from_fn(|v| (v as f32 / 255.0 - m) / s)
            })
            .collect();
        let fill = mean
            .iter()
            .map(|m| (255.0 * m).round_ties_even().clamp(0.0, 255.0) as u8)
            .collect();
        Ok(Normalize { lut, fill })
    }

    /// The mean as u8 pixels, one per channel.
    pub fn fill(&self) -> &[u8] {
        &self.fill
    }

    /// The normalised value of pixel `v` in channel `c`.
    pub fn value(&self, c: usize, v: u8) -> f32 {
        self.lut[c][v as usize]
    }

    pub fn channels(&self) -> usize {
        self.lut.len()
    }

    /// Normalises a whole C×H×W image into `out`.
    pub fn apply(&self, img: &[u8], out: &mut [f32]) {
        let plane = img.len() / self.lut.len().max(1);
        for (c, lut) in self.lut.iter().enumerate() {
            let src = &img[c * plane..(c + 1) * plane];
            for (o, &v) in out[c * plane..(c + 1) * plane].iter_mut().zip(src) {
                *o = lut[v as usize];
            }
        }
    }
}

/// The geometric part of the train transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crop {
    /// `RandomCrop(size, padding)`, zero padding.
    Random { padding: usize },
    /// timm's `RandomResizedCropAndInterpolation(size, scale, ratio, interpolation)`.
    RandomResized {
        /// Area fraction range.
        scale: (f64, f64),
        /// Aspect-ratio (w/h) range, sampled log-uniformly.
        ratio: (f64, f64),
        filter: Filter,
    },
    /// The image is already `size × size`: no crop.
    None,
}

/// timm 0.3.2's `RandomResizedCropAndInterpolation.get_params` on an `h × w` image: the
/// box `(top, left, height, width)` and whether the central fallback was taken.
///
/// Up to 10 attempts: `area = h·w·U(scale)`, `r = exp(U(ln ratio.0, ln ratio.1))`,
/// `cw = round(√(area·r))`, `ch = round(√(area/r))` (round half to even, as Python);
/// accepted when `1 ≤ cw ≤ w` and `1 ≤ ch ≤ h`, then `top ~ randint(0, h−ch)`,
/// `left ~ randint(0, w−cw)`. (timm tests only `cw ≤ w and ch ≤ h`; an empty box, possible
/// only with a scale range reaching almost 0, would fail in PIL, so it is rejected like
/// torchvision does.) Fallback, the central crop: with `in = w/h`, `in < min(ratio)` →
/// `cw = w`, `ch = round(cw / min(ratio))`; `in > max(ratio)` → `ch = h`,
/// `cw = round(ch·max(ratio))`; otherwise the whole image; `top = (h−ch)//2`,
/// `left = (w−cw)//2`.
pub fn rrc_box(
    (h, w): (usize, usize),
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut Stream,
) -> (Rect, bool) {
    let area = (h * w) as f64;
    let log_ratio = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = rng.uniform_in(scale.0, scale.1) * area;
        let aspect = rng.uniform_in(log_ratio.0, log_ratio.1).exp();
        let cw = (target * aspect).sqrt().round_ties_even();
        let ch = (target / aspect).sqrt().round_ties_even();
        if cw >= 1.0 && ch >= 1.0 && cw <= w as f64 && ch <= h as f64 {
            let (cw, ch) = (cw as usize, ch as usize);
            let top = rng.int_inclusive(0, h - ch);
            let left = rng.int_inclusive(0, w - cw);
            let r = Rect {
                top,
                left,
                height: ch,
                width: cw,
            };
            return (r, false);
        }
    }
    let (lo, hi) = (ratio.0.min(ratio.1), ratio.0.max(ratio.1));
    let in_ratio = w as f64 / h as f64;
    let (ch, cw) = if in_ratio < lo {
        (((w as f64 / lo).round_ties_even() as usize).min(h), w)
    } else if in_ratio > hi {
        (h, ((h as f64 * hi).round_ties_even() as usize).min(w))
    } else {
        (h, w)
    };
    let r = Rect {
        top: (h - ch) / 2,
        left: (w - cw) / 2,
        height: ch,
        width: cw,
    };
    (r, true)
}

/// What [`TrainTransform::apply`] drew for one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// Crop offset (top, left): in the padded image for `random`, in the source image for
    /// `random_resized`.
    pub offset: (usize, usize),
    /// The cropped box (height, width) before resizing (`size × size` for `random`).
    pub crop: (usize, usize),
    /// `random_resized` fell back to the central crop.
    pub fallback: bool,
    pub flipped: bool,
    /// The auto-augmentation ops applied, in order.
    pub policy: Vec<Applied>,
    /// ColorJitter's ops in the order applied, with their factors.
    pub jitter: Option<[(ColorOp, f64); 3]>,
    /// Number of erased boxes.
    pub erased: usize,
}

/// The per-sample train transform.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainTransform {
    /// Output side.
    pub size: usize,
    pub crop: Crop,
    pub hflip: f64,
    /// RandAugment or AutoAugment.
    pub policy: Option<Policy>,
    pub color_jitter: Option<ColorJitter>,
    pub normalize: Normalize,
    pub erasing: Option<Erasing>,
}

impl TrainTransform {
    /// From `augment`, the output side and the normalisation; refuses what it cannot do.
    pub fn new(augment: &Augment, size: usize, normalize: Normalize) -> Result<Self, DataError> {
        let policy = match (&augment.rand_augment, augment.auto_augment) {
            (Some(ra), _) => Some(Policy::rand(ra)),
            (None, Some(aa)) => Some(Policy::auto(aa)),
            (None, None) => None,
        };
        let c = &augment.crop;
        if policy.is_some() && c.interpolation != Interpolation::Bicubic {
            // timm resamples the policies' geometric ops with the train interpolation.
            return Err(DataError::Unsupported {
                what: "augment.crop.interpolation".into(),
                reason: "RandAugment/AutoAugment rotate, shear and translate only with \
                         bicubic resampling (the official recipe's)"
                    .into(),
            });
        }
        let crop = match c.kind {
            CropKind::Random => Crop::Random { padding: c.padding },
            CropKind::None => Crop::None,
            CropKind::RandomResized => {
                if !(c.ratio.lo > 0.0 && c.ratio.hi > 0.0) {
                    return Err(DataError::Config {
                        field: "augment.crop.ratio".into(),
                        message: "aspect ratios must be positive".into(),
                    });
                }
                Crop::RandomResized {
                    scale: (c.scale.lo, c.scale.hi),
                    ratio: (c.ratio.lo, c.ratio.hi),
                    filter: match c.interpolation {
                        Interpolation::Bicubic => Filter::Bicubic,
                        // timm 0.3.2's `_pil_interp`: anything else is bilinear.
                        Interpolation::Bilinear | Interpolation::Nearest => Filter::Bilinear,
                    },
                }
            }
        };
        Ok(TrainTransform {
            size,
            crop,
            hflip: augment.hflip,
            // timm: `if auto_augment: … elif color_jitter is not None: ColorJitter`.
            color_jitter: augment
                .color_jitter
                .filter(|_| policy.is_none())
                .and_then(ColorJitter::new),
            policy,
            normalize,
            erasing: augment.random_erasing.as_ref().map(Erasing::new),
        })
    }

    /// The u8 stages (crop, flip, jitter) of `img` (C×`height`×`width` u8, C = the
    /// normalisation's channels): the C×size×size result and what was drawn.
    pub fn augment_u8(
        &self,
        img: &[u8],
        height: usize,
        width: usize,
        rng: &mut Stream,
    ) -> (Vec<u8>, Drawn) {
        let (s, c) = (self.size, self.normalize.channels());
        let mut drawn = Drawn {
            offset: (0, 0),
            crop: (s, s),
            fallback: false,
            flipped: false,
            policy: Vec::new(),
            jitter: None,
            erased: 0,
        };
        let mut px = match self.crop {
            Crop::Random { padding } => {
                let top = rng.int_inclusive(0, (height + 2 * padding).saturating_sub(s));
                let left = rng.int_inclusive(0, (width + 2 * padding).saturating_sub(s));
                drawn.offset = (top, left);
                let shift = |v: usize| v as i64 - padding as i64;
                resample::crop(img, (c, height, width), (shift(top), shift(left)), (s, s))
            }
            Crop::RandomResized {
                scale,
                ratio,
                filter,
            } => {
                let (r, fallback) = rrc_box((height, width), scale, ratio, rng);
                drawn.offset = (r.top, r.left);
                drawn.crop = (r.height, r.width);
                drawn.fallback = fallback;
                resample::resize_region(img, (c, height, width), r, (s, s), filter)
            }
            Crop::None if (height, width) == (s, s) => img[..c * s * s].to_vec(),
            Crop::None => resample::resize(img, (c, height, width), (s, s), Filter::Bicubic),
        };
        drawn.flipped = rng.uniform() < self.hflip;
        if drawn.flipped {
            for row in px.chunks_exact_mut(s.max(1)) {
                row.reverse();
            }
        }
        if let Some(p) = &self.policy {
            drawn.policy = p.apply(&mut px, (c, s, s), self.normalize.fill(), rng);
        } else if let Some(j) = &self.color_jitter {
            drawn.jitter = Some(j.apply(&mut px, c, rng));
        }
        (px, drawn)
    }

    /// Transforms `img` (C×`height`×`width` u8) into `out` (C×size×size f32).
    pub fn apply(
        &self,
        img: &[u8],
        height: usize,
        width: usize,
        rng: &mut Stream,
        out: &mut [f32],
    ) -> Drawn {
        let (s, c) = (self.size, self.normalize.channels());
        let (px, mut drawn) = self.augment_u8(img, height, width, rng);
        self.normalize.apply(&px, out);
        drawn.erased = self
            .erasing
            .as_ref()
            .map_or(0, |e| e.apply(out, c, s, s, rng).len());
        drawn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Purpose;

    #[test]
    fn normalize_matches_torch_arithmetic() {
        let n = Normalize::new(&[0.5], &[0.25], 1).expect("normalize");
        assert_eq!(n.value(0, 0), -2.0);
        assert_eq!(n.value(0, 255), 2.0);
        assert!(Normalize::new(&[0.5], &[0.0], 1).is_err());
        assert!(Normalize::new(&[0.5, 0.5], &[1.0, 1.0], 1).is_err());
    }

    #[test]
    fn crop_without_padding_is_identity() {
        let n = Normalize::new(&[0.0], &[1.0], 1).expect("normalize");
        let t = TrainTransform {
            size: 4,
            crop: Crop::Random { padding: 0 },
            hflip: 0.0,
            policy: None,
            color_jitter: None,
            normalize: n,
            erasing: None,
        };
        let img: Vec<u8> = (0..16).collect();
        let mut out = vec![0.0; 16];
        let d = t.apply(
            &img,
            4,
            4,
            &mut Stream::new(Purpose::Sample, 0, 0, 0),
            &mut out,
        );
        assert_eq!(d.offset, (0, 0));
        let back: Vec<u8> = out.iter().map(|v| (v * 255.0).round() as u8).collect();
        assert_eq!(back, img);
    }
}
