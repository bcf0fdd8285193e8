//! [`open`]: an IR [`Source`] as an in-memory [`Dataset`], sized by a [`Fit`].

use super::cifar::{self, Cifar};
use super::idx::{self, Idx};
use super::resample::{self, Filter};
use super::{image_folder, synthetic, DataError, Dataset};
use crate::ir::{Preload, Source, Split};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// How a source's images are brought to the size the pipeline works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Every image becomes `side × side`: resized (PIL bicubic, aspect ratio not kept)
    /// unless it already is that size.
    Square(usize),
    /// Each image keeps its own size (RandomResizedCrop crops the original image).
    Native,
    /// The official eval transform for inputs above 32 px: resize the short side to
    /// `short` with `filter`, then center-crop `side × side`.
    Eval {
        short: usize,
        side: usize,
        filter: Filter,
    },
}

impl Fit {
    /// The eval fit for `model.image = side` and `data.eval_crop`: `Eval` with
    /// `short = int(side / eval_crop)` above 32 px, `Square(side)` (no resize for images
    /// already that size) at 32 px and below, as the official `build_transform`.
    pub fn eval(side: usize, eval_crop: f64, filter: Filter) -> Fit {
        if side > 32 {
            Fit::Eval {
                short: (side as f64 / eval_crop) as usize,
                side,
                filter,
            }
        } else {
            Fit::Square(side)
        }
    }

    /// Refuses sizes of 0, and an eval resize to more than 16 times the input side (a
    /// `data.eval_crop` close to 0 would ask for gigapixel images).
    pub fn check(self) -> Result<(), DataError> {
        let zero = match self {
            Fit::Square(s) => s == 0,
            Fit::Native => false,
            Fit::Eval { short, side, .. } => short == 0 || side == 0,
        };
        if zero {
            return Err(DataError::Config {
                field: "model.image".into(),
                message: "the image size must be positive".into(),
            });
        }
        if let Fit::Eval { short, side, .. } = self {
            if short > 16 * side {
                return Err(DataError::Config {
                    field: "data.eval_crop".into(),
                    message: format!(
                        "evaluation would resize the short side to {short} px for a {side} px \
                         input; use a ratio of at least 1/16"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Applies the fit to one `c × h × w` image: the new pixels and `(height, width)`.
    pub fn apply(self, img: &[u8], (c, h, w): (usize, usize, usize)) -> (Vec<u8>, (usize, usize)) {
        match self {
            Fit::Native => (img.to_vec(), (h, w)),
            Fit::Square(s) if (h, w) == (s, s) => (img.to_vec(), (h, w)),
            Fit::Square(s) => (
                resample::resize(img, (c, h, w), (s, s), Filter::Bicubic),
                (s, s),
            ),
            Fit::Eval {
                short,
                side,
                filter,
            } => (
                resample::resize_center_crop(img, (c, h, w), short, side, filter),
                (side, side),
            ),
        }
    }

    /// Applies the fit to every image of `d` (in parallel).
    pub fn apply_all(self, d: Dataset) -> Dataset {
        let unchanged = match self {
            Fit::Native => true,
            Fit::Square(s) => d.is_uniform() && (d.height, d.width) == (s, s),
            Fit::Eval { .. } => false,
        };
        if unchanged {
            return d;
        }
        let c = d.channels;
        let done: Vec<(Vec<u8>, (usize, usize))> = (0..d.len())
            .into_par_iter()
            .map(|i| {
                let (h, w) = d.size(i);
                self.apply(d.image(i), (c, h, w))
            })
            .collect();
        let sizes: Vec<(usize, usize)> = done.iter().map(|x| x.1).collect();
        Dataset {
            skipped: d.skipped,
            holes: d.holes,
            ..Dataset::from_images(
                done.into_iter().map(|x| x.0).collect(),
                &sizes,
                d.labels,
                d.classes,
                c,
            )
        }
    }
}

/// Loads `source` as `channels × image × image` u8 images (`Fit::Square(image)`).
pub fn open(source: &Source, channels: usize, image: usize) -> Result<Dataset, DataError> {
    open_fit(
        source,
        channels,
        image,
        Fit::Square(image),
        &Load::default(),
    )
}

/// How [`open_fit`] loads image folders: `data.skip_unreadable` and `data.preload`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub skip_unreadable: bool,
    pub preload: Preload,
}

/// Loads `source` with `channels` channels, sized by `fit`. With `load.skip_unreadable`,
/// image files that cannot be decoded are left out (listed in [`Dataset::skipped`], or for
/// a streamed folder passed over when met) instead of stopping the load. Image folders
/// (and the bundled digits) are preloaded or streamed as `load.preload` says; the other
/// sources are always in memory.
///
/// * `digits()`: the bundled ImageFolder copy in `data/digits/<train|val>`, looked up in the
///   crate's directory as it was at compile time (`CARGO_MANIFEST_DIR`), else relative to
///   the current directory. 8×8 grayscale; 3 channels replicate the gray value.
/// * `image_folder(path)`: see [`image_folder`].
/// * `synthetic(…)`: see [`synthetic`]; generated at `image × image`, then fitted.
/// * `cifar10(path)` / `cifar100(path)`: see [`cifar`]; 32×32 RGB (1 channel: PIL's
///   `convert("L")`), then fitted.
/// * `fashion_mnist(path)` / `mnist(path)`: see [`idx`]; 28×28 grayscale (3 channels
///   repeat the gray plane), then fitted.
pub fn open_fit(
    source: &Source,
    channels: usize,
    image: usize,
    fit: Fit,
    load: &Load,
) -> Result<Dataset, DataError> {
    fit.check()?;
    let folder =
        |root: &Path| image_folder::open(root, channels, fit, load.skip_unreadable, load.preload);
    match source {
        Source::Digits { split } => folder(&digits_dir(*split)),
        Source::ImageFolder { path } => folder(Path::new(path)),
        Source::Synthetic {
            samples,
            classes,
            seed,
        } => Ok(fit.apply_all(synthetic::generate(
            *samples, *classes, *seed, channels, image,
        )?)),
        Source::Cifar10 { path, split } => {
            cifar_source(Path::new(path), Cifar::Ten, *split, channels, fit)
        }
        Source::Cifar100 { path, split } => {
            cifar_source(Path::new(path), Cifar::Hundred, *split, channels, fit)
        }
        Source::FashionMnist { path, split } => {
            idx_source(Path::new(path), Idx::FashionMnist, *split, channels, fit)
        }
        Source::Mnist { path, split } => {
            idx_source(Path::new(path), Idx::Mnist, *split, channels, fit)
        }
    }
}

fn cifar_source(
    path: &Path,
    which: Cifar,
    split: Split,
    channels: usize,
    fit: Fit,
) -> Result<Dataset, DataError> {
    let d = cifar::load(path, which, split)?;
    let d = match channels {
        3 => d,
        1 => {
            let gray: Vec<u8> = d
                .images
                .chunks_exact(cifar::IMAGE_BYTES)
                .flat_map(|img| super::color::grayscale(img, 3))
                .collect();
            Dataset::uniform(gray, d.labels, d.classes, 1, 32, 32)
        }
        c => {
            return Err(DataError::Config {
                field: "model.channels".into(),
                message: format!("{} images load as 1 or 3 channels, not {c}", which.name()),
            })
        }
    };
    Ok(fit.apply_all(d))
}

fn idx_source(
    path: &Path,
    which: Idx,
    split: Split,
    channels: usize,
    fit: Fit,
) -> Result<Dataset, DataError> {
    let d = idx::with_channels(idx::load(path, which, split)?, which, channels)?;
    Ok(fit.apply_all(d))
}

/// Where the bundled digits split lives.
pub fn digits_dir(split: Split) -> PathBuf {
    let name = match split {
        Split::Train => "train",
        Split::Val => "val",
    };
    // The workspace root, two levels above this crate.
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/digits")
        .join(name);
    if built.is_dir() {
        built
    } else {
        Path::new("data/digits").join(name)
    }
}
