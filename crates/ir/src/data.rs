//! `data { … }`: where images come from and how they are normalised.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Val,
}

/// A dataset source, written as a call: `image_folder("…")`, `cifar10("…")`, `fashion_mnist("…")`,
/// `digits()`, ….
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// torchvision ImageFolder layout: `<path>/<class>/*.jpg|png`.
    ImageFolder { path: String },
    /// The CIFAR-10 binary release in `path` (`data_batch_*.bin` / `test_batch.bin`).
    Cifar10 { path: String, split: Split },
    /// The CIFAR-100 binary release in `path` (`train.bin` / `test.bin`).
    Cifar100 { path: String, split: Split },
    /// Fashion-MNIST's IDX files in `path` (`train-images-idx3-ubyte[.gz]` … /
    /// `t10k-*`): 28×28 grayscale, 10 classes.
    FashionMnist { path: String, split: Split },
    /// MNIST's IDX files in `path` (the same layout as Fashion-MNIST).
    Mnist { path: String, split: Split },
    /// The bundled handwritten digits (8×8 grayscale, 10 classes, fixed 80/20 split).
    Digits { split: Split },
    /// Generated images for tests.
    Synthetic {
        samples: usize,
        classes: usize,
        seed: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    Bicubic,
    Bilinear,
    Nearest,
}

/// `data.preload`: whether image-folder splits are decoded into memory before training
/// or read from disk as the batches need them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preload {
    /// Preload when the decoded split is estimated to fit in 2 GiB, stream otherwise.
    #[default]
    Auto,
    /// Always decode the whole split into memory first.
    Always,
    /// Always read and decode each image when a batch needs it.
    Never,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub train: Source,
    pub val: Source,
    pub classes: usize,
    /// Per-channel normalisation mean (one value per model channel).
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// Eval: resize the short side to `image / eval_crop`, then center-crop `image`.
    pub eval_crop: f64,
    /// Eval resize interpolation.
    pub interpolation: Interpolation,
    /// Leave out image files that cannot be decoded (counted and reported) instead of
    /// stopping.
    #[serde(default)]
    pub skip_unreadable: bool,
    /// Decode image folders into memory up front or stream them from disk.
    #[serde(default)]
    pub preload: Preload,
}
