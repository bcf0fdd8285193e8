//! `augment { … }`: the DeiT training augmentation stack (timm semantics).

use super::{Interpolation, Range};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropKind {
    /// RandomResizedCrop (timm: 10 attempts, then a central fallback).
    RandomResized,
    /// RandomCrop with zero padding (the official choice for images ≤ 32 px).
    Random,
    /// Resize only.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crop {
    pub kind: CropKind,
    /// Area fraction range (random_resized).
    pub scale: Range,
    /// Aspect-ratio range, sampled log-uniformly (random_resized).
    pub ratio: Range,
    pub interpolation: Interpolation,
    /// Padding in pixels (random).
    pub padding: usize,
}

/// RandAugment, e.g. timm's `rand-m9-mstd0.5-inc1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandAugment {
    /// Ops applied per image (drawn with replacement).
    pub ops: usize,
    pub magnitude: f64,
    pub magnitude_std: f64,
    /// The "increasing" op list.
    pub increasing: bool,
    /// Probability each drawn op is applied.
    pub prob: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoAugment {
    /// timm's `original` ImageNet policy.
    Original,
    /// timm's `v0` policy.
    V0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EraseMode {
    /// Per-pixel N(0, 1) noise.
    Pixel,
    /// Per-channel N(0, 1) colour.
    Rand,
    /// Zeros.
    Const,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomErasing {
    pub prob: f64,
    pub mode: EraseMode,
    /// Max boxes per image.
    pub count: usize,
    pub area: Range,
    pub aspect: Range,
}

/// Mixup/CutMix in timm's `batch` mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Beta(α, α) for mixup; 0 disables it.
    pub mixup: f64,
    /// Beta(α, α) for cutmix; 0 disables it.
    pub cutmix: f64,
    /// Probability a batch is mixed at all.
    pub prob: f64,
    /// Probability of cutmix rather than mixup when both are on.
    pub switch_prob: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    pub crop: Crop,
    pub hflip: f64,
    pub rand_augment: Option<RandAugment>,
    pub auto_augment: Option<AutoAugment>,
    pub color_jitter: Option<f64>,
    pub random_erasing: Option<RandomErasing>,
    pub mix: Option<Mix>,
    pub label_smoothing: f64,
    /// Repeated augmentation: each selected image appears this many times per epoch.
    pub repeated: usize,
}
