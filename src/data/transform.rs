//! Per-sample transforms on u8 C×H×W images, producing normalised f32 C×H×W.
//!
//! Train (the official pipeline for inputs ≤ 32 px): `RandomCrop(size, padding)` with zero
//! padding (torchvision: pad, then `top ~ randint(0, H+2p−size)`, `left ~ randint(0,
//! W+2p−size)`, inclusive) → horizontal flip with probability `hflip` → `ToTensor`
//! (`v / 255`) → `Normalize` (`(x − mean) / std`, all in f32 as torch does) →
//! [`Erasing`] if `augment.random_erasing` is set. Padded pixels
//! are 0 before normalisation, so `−mean/std` after it.
//!
//! Not implemented here: `crop.kind = random_resized` (RandomResizedCrop needs the images
//! at their original resolution; the loader keeps them at `model.image`), RandAugment,
//! AutoAugment and ColorJitter. [`TrainTransform::new`] refuses them with
//! [`DataError::Unsupported`] rather than silently skipping them.
//!
//! Eval: `ToTensor` → `Normalize` only, for images already at `model.image`. The official
//! `Resize(image / eval_crop)` → `CenterCrop(image)` is not applied yet (for the digits at
//! 8 px it would resize to 9 and crop back to 8).

use super::erasing::Erasing;
use super::rng::Stream;
use super::DataError;
use crate::ir::{Augment, CropKind};

/// `ToTensor` + `Normalize` as one lookup table per channel (exactly torch's f32 result).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    lut: Vec<[f32; 256]>,
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
        Ok(Normalize { lut })
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crop {
    /// `RandomCrop(size, padding)`, zero padding.
    Random { padding: usize },
    /// The image is already `size × size`: no crop.
    None,
}

/// What [`TrainTransform::apply`] drew for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// Crop offset in the padded image (top, left).
    pub offset: (usize, usize),
    pub flipped: bool,
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
    pub normalize: Normalize,
    pub erasing: Option<Erasing>,
}

impl TrainTransform {
    /// From `augment`, the output side and the normalisation; refuses what it cannot do.
    pub fn new(augment: &Augment, size: usize, normalize: Normalize) -> Result<Self, DataError> {
        let unsupported = |what: &str| DataError::Unsupported {
            what: what.to_string(),
            reason: "not implemented by the data loader yet".into(),
        };
        if augment.rand_augment.is_some() {
            return Err(unsupported("augment.rand_augment"));
        }
        if augment.auto_augment.is_some() {
            return Err(unsupported("augment.auto_augment"));
        }
        if augment.color_jitter.is_some() {
            return Err(unsupported("augment.color_jitter"));
        }
        let crop = match augment.crop.kind {
            CropKind::Random => Crop::Random {
                padding: augment.crop.padding,
            },
            CropKind::None => Crop::None,
            CropKind::RandomResized => {
                return Err(DataError::Unsupported {
                    what: "augment.crop.kind = random_resized".into(),
                    reason: "RandomResizedCrop is not implemented by the data loader yet; \
                             use `random` (pad and crop, the official choice for ≤ 32 px)"
                        .into(),
                })
            }
        };
        Ok(TrainTransform {
            size,
            crop,
            hflip: augment.hflip,
            normalize,
            erasing: augment.random_erasing.as_ref().map(Erasing::new),
        })
    }

    /// Transforms `img` (C×H×W u8, C = the normalisation's channels) into `out`
    /// (C×size×size f32). Pixels outside the padded source read as 0.
    pub fn apply(
        &self,
        img: &[u8],
        height: usize,
        width: usize,
        rng: &mut Stream,
        out: &mut [f32],
    ) -> Drawn {
        let (s, c) = (self.size, self.normalize.channels());
        let pad = match self.crop {
            Crop::Random { padding } => padding,
            Crop::None => 0,
        };
        let (top, left) = match self.crop {
            Crop::Random { .. } => {
                let top = rng.int_inclusive(0, (height + 2 * pad).saturating_sub(s));
                let left = rng.int_inclusive(0, (width + 2 * pad).saturating_sub(s));
                (top, left)
            }
            Crop::None => (0, 0),
        };
        let flipped = rng.uniform() < self.hflip;
        for ch in 0..c {
            let src = &img[ch * height * width..(ch + 1) * height * width];
            let zero = self.normalize.value(ch, 0);
            for y in 0..s {
                let sy = (y + top).checked_sub(pad).filter(|&v| v < height);
                let row = &mut out[(ch * s + y) * s..(ch * s + y + 1) * s];
                for (x, o) in row.iter_mut().enumerate() {
                    let xc = if flipped { s - 1 - x } else { x };
                    let sx = (xc + left).checked_sub(pad).filter(|&v| v < width);
                    *o = match (sy, sx) {
                        (Some(sy), Some(sx)) => self.normalize.value(ch, src[sy * width + sx]),
                        _ => zero,
                    };
                }
            }
        }
        let erased = self
            .erasing
            .as_ref()
            .map_or(0, |e| e.apply(out, c, s, s, rng).len());
        Drawn {
            offset: (top, left),
            flipped,
            erased,
        }
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
