//! torchvision's `ColorJitter(brightness=s, contrast=s, saturation=s, hue=0)` on PIL
//! images, the way timm 0.3.2 adds it for a scalar `color_jitter` when no auto-augmentation
//! policy is set.
//!
//! Per image: the three ops are applied in a random order (torchvision shuffles them per
//! call), each with a factor drawn uniformly from `[max(0, 1 − s), 1 + s]` (an op whose
//! strength is 0 is skipped). Draw order here: the permutation (Fisher–Yates), then each
//! op's factor as it is applied. Each op is PIL's `ImageEnhance`, i.e.
//! `Image.blend(degenerate, image, f)`:
//!
//! * brightness: `degenerate` is black;
//! * contrast: `degenerate` is the constant `int(mean(L) + 0.5)`, the mean of the
//!   grayscale image;
//! * saturation: `degenerate` is the grayscale image (replicated over the channels).
//!
//! Grayscale is PIL's `convert("L")`: `(19595 R + 38470 G + 7471 B + 2¹⁵) >> 16`, i.e.
//! `0.299 R + 0.587 G + 0.114 B` rounded; a 1-channel image is its own grayscale (so
//! saturation leaves it unchanged). `Image.blend` computes `d + f·(v − d)` in single
//! precision (`alpha` is a C `float`) and truncates to u8, clipping to 0..=255 when `f`
//! is outside `[0, 1]`.

use super::rng::Stream;

/// One of ColorJitter's ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorOp {
    Brightness,
    Contrast,
    Saturation,
}

/// `ColorJitter(s, s, s, 0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorJitter {
    /// The factor range `[max(0, 1 − s), 1 + s]`.
    pub lo: f64,
    pub hi: f64,
}

impl ColorJitter {
    /// None for a strength of 0 (torchvision then applies nothing).
    pub fn new(strength: f64) -> Option<Self> {
        (strength > 0.0 && strength.is_finite()).then(|| ColorJitter {
            lo: (1.0 - strength).max(0.0),
            hi: 1.0 + strength,
        })
    }

    /// Jitters `img` (C×H×W u8, C = 1 or 3) in place; returns the ops in the order applied,
    /// with their factors.
    pub fn apply(&self, img: &mut [u8], channels: usize, rng: &mut Stream) -> [(ColorOp, f64); 3] {
        let mut ops = [ColorOp::Brightness, ColorOp::Contrast, ColorOp::Saturation];
        rng.shuffle(&mut ops);
        ops.map(|op| {
            let f = rng.uniform_in(self.lo, self.hi);
            adjust(img, channels, op, f);
            (op, f)
        })
    }
}

/// Applies one op with factor `f` to `img` (C×H×W u8), as PIL's `ImageEnhance`.
pub fn adjust(img: &mut [u8], channels: usize, op: ColorOp, f: f64) {
    let plane = img.len() / channels.max(1);
    match op {
        ColorOp::Brightness => {
            for v in img.iter_mut() {
                *v = blend(0, *v, f);
            }
        }
        ColorOp::Contrast => {
            let gray = grayscale(img, channels);
            let sum: u64 = gray.iter().map(|&g| u64::from(g)).sum();
            let mean = if plane == 0 {
                0.0
            } else {
                sum as f64 / plane as f64
            };
            let d = (mean + 0.5) as u8;
            for v in img.iter_mut() {
                *v = blend(d, *v, f);
            }
        }
        ColorOp::Saturation => {
            if channels < 3 {
                return;
            }
            let gray = grayscale(img, channels);
            for ch in img.chunks_exact_mut(plane.max(1)) {
                for (v, &g) in ch.iter_mut().zip(&gray) {
                    *v = blend(g, *v, f);
                }
            }
        }
    }
}

/// PIL's `convert("L")` of a planar image: the luma plane (the image itself for 1 channel).
pub fn grayscale(img: &[u8], channels: usize) -> Vec<u8> {
    let plane = img.len() / channels.max(1);
    if channels < 3 {
        return img[..plane].to_vec();
    }
    let (r, rest) = img.split_at(plane);
    let (g, b) = rest.split_at(plane);
    r.iter()
        .zip(g)
        .zip(b)
        .map(|((&r, &g), &b)| {
            let l = 19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000;
            (l >> 16) as u8
        })
        .collect()
}

/// PIL's `Image.blend(a, b, alpha)` for one value: `a + alpha·(b − a)` in f32, truncated,
/// clipped when extrapolating.
pub fn blend(a: u8, b: u8, alpha: f64) -> u8 {
    let alpha = alpha as f32;
    let v = f32::from(a) + alpha * f32::from(i16::from(b) - i16::from(a));
    if (0.0..=1.0).contains(&alpha) {
        v as u8
    } else if v <= 0.0 {
        0
    } else if v >= 255.0 {
        255
    } else {
        v as u8
    }
}
