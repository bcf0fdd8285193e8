//! Auto-augmentation policies: RandAugment and AutoAugment, as timm 0.3.2's
//! `timm/data/auto_augment.py` builds them for `--aa rand-m9-mstd0.5-inc1` and
//! `--aa original` / `--aa v0`.
//!
//! Both are lists of [`AugmentOp`]s, each an op name (how a magnitude becomes an argument)
//! with an application probability and a magnitude on timm's 0–10 scale:
//!
//! * **RandAugment** draws `ops` ops per image uniformly *with* replacement from the 15
//!   ops ([`RAND_INCREASING`], or [`RAND_PLAIN`] without `increasing`); each is then applied
//!   with probability `prob`, with its own magnitude `m ~ N(magnitude, magnitude_std)`
//!   clipped to `[0, 10]` (a fixed `magnitude` when the std is 0).
//! * **AutoAugment** draws one of 25 sub-policies uniformly and applies its two ops in
//!   order, each with the probability and magnitude the policy lists (no magnitude noise,
//!   as `--aa original`).
//!
//! The level → argument mapping is timm's `LEVEL_TO_ARG` (`level = m / 10`): rotate
//! `±30·level`°, shear `±0.3·level`, translate `±0.45·level` of the width/height, the
//! "increasing" enhancers `1 ± 0.9·level`, the plain ones `0.1 + 1.8·level`, posterize
//! `4 − ⌊4·level⌋` bits (increasing), `⌊4·level⌋` (plain) or `4 + ⌊4·level⌋` (original),
//! solarize threshold `256 − ⌊256·level⌋` (increasing) or `⌊256·level⌋`, solarize-add
//! `⌊110·level⌋`. A sign is negated with probability ½ (`random() > 0.5`).
//!
//! Geometric ops fill with the dataset mean in u8 (`round(255·mean)`, (124, 116, 104) for
//! ImageNet) and resample bicubically, as timm does when the train interpolation is
//! bicubic. Draw order per applied op, from the sample's stream: the application draw,
//! the magnitude noise (when the std is positive), the sign (signed ops only).

use super::pil_ops::PilOp;
use super::rng::Stream;
use crate::ir::AutoAugment;

/// timm's `_MAX_LEVEL`.
const MAX_LEVEL: f64 = 10.0;

/// An op as the policies name it: which image op, and how its magnitude maps to an
/// argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpName {
    AutoContrast,
    Equalize,
    Invert,
    Rotate,
    /// `⌊4·level⌋` bits kept.
    Posterize,
    /// `4 − ⌊4·level⌋` bits kept.
    PosterizeIncreasing,
    /// `4 + ⌊4·level⌋` bits kept.
    PosterizeOriginal,
    /// Threshold `⌊256·level⌋`.
    Solarize,
    /// Threshold `256 − ⌊256·level⌋`.
    SolarizeIncreasing,
    SolarizeAdd,
    Color,
    ColorIncreasing,
    Contrast,
    ContrastIncreasing,
    Brightness,
    BrightnessIncreasing,
    Sharpness,
    SharpnessIncreasing,
    ShearX,
    ShearY,
    TranslateXRel,
    TranslateYRel,
}

/// timm's `_RAND_INCREASING_TRANSFORMS` (`inc1`): the official DeiT list.
pub const RAND_INCREASING: [OpName; 15] = [
    OpName::AutoContrast,
    OpName::Equalize,
    OpName::Invert,
    OpName::Rotate,
    OpName::PosterizeIncreasing,
    OpName::SolarizeIncreasing,
    OpName::SolarizeAdd,
    OpName::ColorIncreasing,
    OpName::ContrastIncreasing,
    OpName::BrightnessIncreasing,
    OpName::SharpnessIncreasing,
    OpName::ShearX,
    OpName::ShearY,
    OpName::TranslateXRel,
    OpName::TranslateYRel,
];

/// timm's `_RAND_TRANSFORMS` (without `inc`).
pub const RAND_PLAIN: [OpName; 15] = [
    OpName::AutoContrast,
    OpName::Equalize,
    OpName::Invert,
    OpName::Rotate,
    OpName::Posterize,
    OpName::Solarize,
    OpName::SolarizeAdd,
    OpName::Color,
    OpName::Contrast,
    OpName::Brightness,
    OpName::Sharpness,
    OpName::ShearX,
    OpName::ShearY,
    OpName::TranslateXRel,
    OpName::TranslateYRel,
];

/// Negates `v` with probability ½ (timm's `_randomly_negate`).
fn randomly_negate(v: f64, rng: &mut Stream) -> f64 {
    if rng.uniform() > 0.5 {
        -v
    } else {
        v
    }
}

impl OpName {
    /// The image op at magnitude `m` (already clipped to 0..=10) on an image of `height ×
    /// width`; signed ops draw their sign from `rng`.
    pub fn resolve(self, m: f64, (height, width): (usize, usize), rng: &mut Stream) -> PilOp {
        let level = m / MAX_LEVEL;
        // Python's `int()` of a non-negative float.
        let floor = |v: f64| v.max(0.0) as u32;
        let increasing = |rng: &mut Stream| 1.0 + randomly_negate(level * 0.9, rng);
        let plain = 0.1 + level * 1.8;
        match self {
            OpName::AutoContrast => PilOp::AutoContrast,
            OpName::Equalize => PilOp::Equalize,
            OpName::Invert => PilOp::Invert,
            OpName::Rotate => PilOp::Rotate {
                degrees: randomly_negate(level * 30.0, rng),
            },
            OpName::Posterize => PilOp::Posterize {
                bits: floor(level * 4.0),
            },
            OpName::PosterizeIncreasing => PilOp::Posterize {
                bits: 4u32.saturating_sub(floor(level * 4.0)),
            },
            OpName::PosterizeOriginal => PilOp::Posterize {
                bits: 4 + floor(level * 4.0),
            },
            OpName::Solarize => PilOp::Solarize {
                threshold: floor(level * 256.0),
            },
            OpName::SolarizeIncreasing => PilOp::Solarize {
                threshold: 256u32.saturating_sub(floor(level * 256.0)),
            },
            OpName::SolarizeAdd => PilOp::SolarizeAdd {
                add: floor(level * 110.0) as i32,
                threshold: 128,
            },
            OpName::Color => PilOp::Color(plain),
            OpName::ColorIncreasing => PilOp::Color(increasing(rng)),
            OpName::Contrast => PilOp::Contrast(plain),
            OpName::ContrastIncreasing => PilOp::Contrast(increasing(rng)),
            OpName::Brightness => PilOp::Brightness(plain),
            OpName::BrightnessIncreasing => PilOp::Brightness(increasing(rng)),
            OpName::Sharpness => PilOp::Sharpness(plain),
            OpName::SharpnessIncreasing => PilOp::Sharpness(increasing(rng)),
            OpName::ShearX => PilOp::ShearX(randomly_negate(level * 0.3, rng)),
            OpName::ShearY => PilOp::ShearY(randomly_negate(level * 0.3, rng)),
            // timm: `pixels = pct · img.size[0]` (width) / `img.size[1]` (height).
            OpName::TranslateXRel => {
                PilOp::TranslateX(randomly_negate(level * 0.45, rng) * width as f64)
            }
            OpName::TranslateYRel => {
                PilOp::TranslateY(randomly_negate(level * 0.45, rng) * height as f64)
            }
        }
    }
}

/// timm's `AugmentOp`: an op applied with probability `prob` at a (noisy) magnitude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentOp {
    pub name: OpName,
    pub prob: f64,
    pub magnitude: f64,
    pub magnitude_std: f64,
}

/// One op as applied to one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applied {
    pub op: PilOp,
    /// The magnitude drawn, after clipping.
    pub magnitude: f64,
}

impl AugmentOp {
    const fn fixed(name: OpName, prob: f64, magnitude: f64) -> Self {
        AugmentOp {
            name,
            prob,
            magnitude,
            magnitude_std: 0.0,
        }
    }

    /// `AugmentOp.__call__`: applies the op to `img` (C×H×W u8) unless the application
    /// draw skips it; returns what was applied.
    pub fn apply(
        &self,
        img: &mut [u8],
        (channels, height, width): (usize, usize, usize),
        fill: &[u8],
        rng: &mut Stream,
    ) -> Option<Applied> {
        if self.prob < 1.0 && rng.uniform() > self.prob {
            return None;
        }
        let mut m = self.magnitude;
        if self.magnitude_std > 0.0 {
            m += self.magnitude_std * rng.normal();
        }
        let m = m.clamp(0.0, MAX_LEVEL);
        let op = self.name.resolve(m, (height, width), rng);
        op.apply(img, channels, height, width, fill);
        Some(Applied { op, magnitude: m })
    }
}

/// An auto-augmentation policy, applied after the crop and flip.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// `ops` ops per image, drawn uniformly with replacement from `choices`.
    Rand { choices: Vec<AugmentOp>, ops: usize },
    /// One sub-policy per image, drawn uniformly.
    Auto { subpolicies: Vec<[AugmentOp; 2]> },
}

impl Policy {
    /// RandAugment as the recipe configures it (`rand-m9-mstd0.5-inc1` by default).
    pub fn rand(ra: &crate::ir::RandAugment) -> Self {
        let names = if ra.increasing {
            RAND_INCREASING
        } else {
            RAND_PLAIN
        };
        let choices = names
            .iter()
            .map(|&name| AugmentOp {
                name,
                prob: ra.prob,
                magnitude: ra.magnitude,
                magnitude_std: ra.magnitude_std,
            })
            .collect();
        Policy::Rand {
            choices,
            ops: ra.ops,
        }
    }

    /// One of timm's AutoAugment ImageNet policies.
    pub fn auto(which: AutoAugment) -> Self {
        let table: &[[(OpName, f64, f64); 2]] = match which {
            AutoAugment::Original => &ORIGINAL,
            AutoAugment::V0 => &V0,
        };
        let subpolicies = table
            .iter()
            .map(|pair| pair.map(|(name, p, m)| AugmentOp::fixed(name, p, m)))
            .collect();
        Policy::Auto { subpolicies }
    }

    /// Applies the policy to `img` (C×H×W u8) in place; returns the ops applied, in order.
    pub fn apply(
        &self,
        img: &mut [u8],
        shape: (usize, usize, usize),
        fill: &[u8],
        rng: &mut Stream,
    ) -> Vec<Applied> {
        match self {
            Policy::Rand { choices, ops } => {
                // `np.random.choice(ops, n, replace=True)`: all n picks come first.
                let picks: Vec<usize> = (0..*ops)
                    .map(|_| rng.below(choices.len() as u64) as usize)
                    .collect();
                picks
                    .into_iter()
                    .filter_map(|i| choices.get(i)?.apply(img, shape, fill, rng))
                    .collect()
            }
            Policy::Auto { subpolicies } => {
                let pick = rng.below(subpolicies.len() as u64) as usize;
                subpolicies.get(pick).map_or_else(Vec::new, |sub| {
                    sub.iter()
                        .filter_map(|op| op.apply(img, shape, fill, rng))
                        .collect()
                })
            }
        }
    }
}

use OpName as O;

/// timm's `auto_augment_policy_original`: the ImageNet policy of the AutoAugment paper.
const ORIGINAL: [[(OpName, f64, f64); 2]; 25] = [
    [(O::PosterizeOriginal, 0.4, 8.0), (O::Rotate, 0.6, 9.0)],
    [(O::Solarize, 0.6, 5.0), (O::AutoContrast, 0.6, 5.0)],
    [(O::Equalize, 0.8, 8.0), (O::Equalize, 0.6, 3.0)],
    [
        (O::PosterizeOriginal, 0.6, 7.0),
        (O::PosterizeOriginal, 0.6, 6.0),
    ],
    [(O::Equalize, 0.4, 7.0), (O::Solarize, 0.2, 4.0)],
    [(O::Equalize, 0.4, 4.0), (O::Rotate, 0.8, 8.0)],
    [(O::Solarize, 0.6, 3.0), (O::Equalize, 0.6, 7.0)],
    [(O::PosterizeOriginal, 0.8, 5.0), (O::Equalize, 1.0, 2.0)],
    [(O::Rotate, 0.2, 3.0), (O::Solarize, 0.6, 8.0)],
    [(O::Equalize, 0.6, 8.0), (O::PosterizeOriginal, 0.4, 6.0)],
    [(O::Rotate, 0.8, 8.0), (O::Color, 0.4, 0.0)],
    [(O::Rotate, 0.4, 9.0), (O::Equalize, 0.6, 2.0)],
    [(O::Equalize, 0.0, 7.0), (O::Equalize, 0.8, 8.0)],
    [(O::Invert, 0.6, 4.0), (O::Equalize, 1.0, 8.0)],
    [(O::Color, 0.6, 4.0), (O::Contrast, 1.0, 8.0)],
    [(O::Rotate, 0.8, 8.0), (O::Color, 1.0, 2.0)],
    [(O::Color, 0.8, 8.0), (O::Solarize, 0.8, 7.0)],
    [(O::Sharpness, 0.4, 7.0), (O::Invert, 0.6, 8.0)],
    [(O::ShearX, 0.6, 5.0), (O::Equalize, 1.0, 9.0)],
    [(O::Color, 0.4, 0.0), (O::Equalize, 0.6, 3.0)],
    [(O::Equalize, 0.4, 7.0), (O::Solarize, 0.2, 4.0)],
    [(O::Solarize, 0.6, 5.0), (O::AutoContrast, 0.6, 5.0)],
    [(O::Invert, 0.6, 4.0), (O::Equalize, 1.0, 8.0)],
    [(O::Color, 0.6, 4.0), (O::Contrast, 1.0, 8.0)],
    [(O::Equalize, 0.8, 8.0), (O::Equalize, 0.6, 3.0)],
];

/// timm's `auto_augment_policy_v0`: the TPU EfficientNet ImageNet policy.
const V0: [[(OpName, f64, f64); 2]; 25] = [
    [(O::Equalize, 0.8, 1.0), (O::ShearY, 0.8, 4.0)],
    [(O::Color, 0.4, 9.0), (O::Equalize, 0.6, 3.0)],
    [(O::Color, 0.4, 1.0), (O::Rotate, 0.6, 8.0)],
    [(O::Solarize, 0.8, 3.0), (O::Equalize, 0.4, 7.0)],
    [(O::Solarize, 0.4, 2.0), (O::Solarize, 0.6, 2.0)],
    [(O::Color, 0.2, 0.0), (O::Equalize, 0.8, 8.0)],
    [(O::Equalize, 0.4, 8.0), (O::SolarizeAdd, 0.8, 3.0)],
    [(O::ShearX, 0.2, 9.0), (O::Rotate, 0.6, 8.0)],
    [(O::Color, 0.6, 1.0), (O::Equalize, 1.0, 2.0)],
    [(O::Invert, 0.4, 9.0), (O::Rotate, 0.6, 0.0)],
    [(O::Equalize, 1.0, 9.0), (O::ShearY, 0.6, 3.0)],
    [(O::Color, 0.4, 7.0), (O::Equalize, 0.6, 0.0)],
    [(O::Posterize, 0.4, 6.0), (O::AutoContrast, 0.4, 7.0)],
    [(O::Solarize, 0.6, 8.0), (O::Color, 0.6, 9.0)],
    [(O::Solarize, 0.2, 4.0), (O::Rotate, 0.8, 9.0)],
    [(O::Rotate, 1.0, 7.0), (O::TranslateYRel, 0.8, 9.0)],
    [(O::ShearX, 0.0, 0.0), (O::Solarize, 0.8, 4.0)],
    [(O::ShearY, 0.8, 0.0), (O::Color, 0.6, 4.0)],
    [(O::Color, 1.0, 0.0), (O::Rotate, 0.6, 2.0)],
    [(O::Equalize, 0.8, 4.0), (O::Equalize, 0.0, 8.0)],
    [(O::Equalize, 1.0, 4.0), (O::AutoContrast, 0.6, 2.0)],
    [(O::ShearY, 0.4, 7.0), (O::SolarizeAdd, 0.6, 7.0)],
    // timm: "This results in black image with Tpu posterize" (0 bits kept).
    [(O::Posterize, 0.8, 2.0), (O::Solarize, 0.6, 10.0)],
    [(O::Solarize, 0.6, 8.0), (O::Equalize, 0.6, 1.0)],
    [(O::Color, 0.8, 6.0), (O::Rotate, 0.4, 5.0)],
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Purpose;

    #[test]
    fn levels_map_to_timm_arguments_at_m9() {
        let mut rng = Stream::new(Purpose::Sample, 0, 0, 0);
        let at = |name: OpName, rng: &mut Stream| name.resolve(9.0, (224, 224), rng);
        assert_eq!(
            at(O::PosterizeIncreasing, &mut rng),
            PilOp::Posterize { bits: 1 }
        );
        assert_eq!(
            at(O::SolarizeIncreasing, &mut rng),
            PilOp::Solarize { threshold: 26 }
        );
        assert_eq!(
            at(O::SolarizeAdd, &mut rng),
            PilOp::SolarizeAdd {
                add: 99,
                threshold: 128
            }
        );
        assert_eq!(
            at(O::PosterizeOriginal, &mut rng),
            PilOp::Posterize { bits: 7 }
        );
        assert_eq!(
            O::PosterizeIncreasing.resolve(10.0, (8, 8), &mut rng),
            PilOp::Posterize { bits: 0 }
        );
        match at(O::Rotate, &mut rng) {
            PilOp::Rotate { degrees } => assert!((degrees.abs() - 27.0).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        match at(O::ColorIncreasing, &mut rng) {
            PilOp::Color(f) => assert!((f - 1.81).abs() < 1e-12 || (f - 0.19).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        match at(O::TranslateXRel, &mut rng) {
            PilOp::TranslateX(px) => assert!((px.abs() - 0.405 * 224.0).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn policies_have_timm_sizes() {
        let ra = crate::ir::RandAugment {
            ops: 2,
            magnitude: 9.0,
            magnitude_std: 0.5,
            increasing: true,
            prob: 0.5,
        };
        match Policy::rand(&ra) {
            Policy::Rand { choices, ops } => assert_eq!((choices.len(), ops), (15, 2)),
            other => panic!("{other:?}"),
        }
        for which in [AutoAugment::Original, AutoAugment::V0] {
            match Policy::auto(which) {
                Policy::Auto { subpolicies } => assert_eq!(subpolicies.len(), 25),
                other => panic!("{other:?}"),
            }
        }
    }
}
