//! timm's `RandomErasing` (0.3.2, `num_splits = 0`), applied per image to the normalised
//! C×H×W tensor.
//!
//! With probability `prob` (erase iff u < prob), draw `count` boxes (`count` is
//! `randint(1, max_count)`, or 1 when `max_count ≤ 1`); for each, up to 10 attempts of
//! `area_t = U(area.lo, area.hi)·H·W / count`, `aspect = exp(U(ln aspect.lo, ln aspect.hi))`,
//! `h = round(√(area_t·aspect))`, `w = round(√(area_t/aspect))` (round half to even, as
//! Python), accepted when `w < W` and `h < H`; then `top ~ randint(0, H−h)`,
//! `left ~ randint(0, W−w)` (inclusive) and the box is filled according to the mode:
//! per-pixel N(0, 1) (`pixel`), one N(0, 1) per channel (`rand`), or zeros (`const`).

use super::rng::Stream;
use crate::ir::{EraseMode, RandomErasing};

/// One erased rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraseBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// RandomErasing's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Erasing {
    pub prob: f64,
    pub mode: EraseMode,
    pub max_count: usize,
    pub area: (f64, f64),
    /// ln of the aspect-ratio range.
    pub log_aspect: (f64, f64),
}

impl Erasing {
    pub fn new(re: &RandomErasing) -> Self {
        Erasing {
            prob: re.prob,
            mode: re.mode,
            max_count: re.count.max(1),
            area: (re.area.lo, re.area.hi),
            log_aspect: (re.aspect.lo.ln(), re.aspect.hi.ln()),
        }
    }

    /// Erases in place `img` (C×H×W) and returns the boxes it filled.
    pub fn apply(
        &self,
        img: &mut [f32],
        channels: usize,
        height: usize,
        width: usize,
        rng: &mut Stream,
    ) -> Vec<EraseBox> {
        let mut boxes = Vec::new();
        if rng.uniform() >= self.prob {
            return boxes;
        }
        let count = if self.max_count <= 1 {
            1
        } else {
            rng.int_inclusive(1, self.max_count)
        };
        let area = (height * width) as f64;
        for _ in 0..count {
            for _attempt in 0..10 {
                let target = rng.uniform_in(self.area.0, self.area.1) * area / count as f64;
                let aspect = rng.uniform_in(self.log_aspect.0, self.log_aspect.1).exp();
                let h = (target * aspect).sqrt().round_ties_even() as usize;
                let w = (target / aspect).sqrt().round_ties_even() as usize;
                if w < width && h < height {
                    let top = rng.int_inclusive(0, height - h);
                    let left = rng.int_inclusive(0, width - w);
                    self.fill(img, channels, height, width, (top, left, h, w), rng);
                    boxes.push(EraseBox {
                        top,
                        left,
                        height: h,
                        width: w,
                    });
                    break;
                }
            }
        }
        boxes
    }

    fn fill(
        &self,
        img: &mut [f32],
        channels: usize,
        height: usize,
        width: usize,
        (top, left, h, w): (usize, usize, usize, usize),
        rng: &mut Stream,
    ) {
        for c in 0..channels {
            let colour = match self.mode {
                EraseMode::Rand => rng.normal() as f32,
                EraseMode::Const | EraseMode::Pixel => 0.0,
            };
            for y in top..top + h {
                let row = &mut img[(c * height + y) * width + left..][..w];
                for v in row {
                    *v = match self.mode {
                        EraseMode::Pixel => rng.normal() as f32,
                        _ => colour,
                    };
                }
            }
        }
    }
}
