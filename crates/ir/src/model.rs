//! `model { … }`: the vision transformer's shape.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// DeiT (may carry a distillation token).
    Deit,
    /// Plain ViT.
    Vit,
    /// A small convolutional network (teachers for small data): two stages of two 3×3
    /// convolutions, `width` then `2 × width` channels.
    Convnet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub family: Family,
    /// Patch side P (the patch embedding is a stride-P P×P convolution).
    pub patch: usize,
    /// Input side in pixels (square images).
    pub image: usize,
    pub channels: usize,
    /// Embedding dimension D.
    pub embed: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_ratio: f64,
    pub qkv_bias: bool,
    /// Stochastic depth; block i drops with `linspace(0, drop_path, depth)[i]`.
    pub drop_path: f64,
    pub dropout: f64,
    /// A distillation token (index 1) and `head_dist`.
    pub distilled: bool,
    pub classes: usize,
    /// Convnet only: channels of the first stage (the second has twice as many).
    pub width: usize,
}

impl Model {
    /// Whether this is a vision transformer (`deit`, `vit`) rather than a convnet.
    pub fn is_transformer(&self) -> bool {
        self.family != Family::Convnet
    }

    /// Number of patches, `(image / patch)²`.
    pub fn patches(&self) -> usize {
        (self.image / self.patch.max(1)).pow(2)
    }

    /// Prefix tokens: cls, plus dist when distilled.
    pub fn prefix_tokens(&self) -> usize {
        1 + usize::from(self.distilled)
    }

    /// Sequence length T = patches + prefix tokens.
    pub fn tokens(&self) -> usize {
        self.patches() + self.prefix_tokens()
    }

    /// MLP hidden width, `embed × mlp_ratio`.
    pub fn mlp_hidden(&self) -> usize {
        (self.embed as f64 * self.mlp_ratio).round() as usize
    }
}
