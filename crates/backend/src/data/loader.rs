//! [`Loader`]: shuffled, augmented, mixed training batches and plain eval batches.
//!
//! * Training ([`Loader::epoch`]): the order is a Fisher–Yates permutation drawn from
//!   `(train.seed, epoch)`, turned into the official `RASampler` order when
//!   `augment.repeated > 1` ([`sampler`](super::sampler): each index repeated, the epoch cut
//!   to `N // 256 · 256`); batches of `train.batch` drop the last partial one (as the
//!   official `drop_last=True`). Each sample is transformed
//!   ([`TrainTransform`]) with its own stream keyed by
//!   `(seed, epoch, position in the epoch)`, in parallel with rayon over the batch; then the
//!   batch is mixed ([`Mixer`]) with a stream keyed by `(seed, epoch, batch number)`. Every
//!   batch is therefore a pure function of `(recipe, epoch, step)`: the same for any number
//!   of threads, and `deitc run` builds the next batches on a second thread while the
//!   current one trains (`train::run`) without changing any result.
//! * Targets are B×K soft targets: mixed and smoothed when `augment.mix` is on, smoothed
//!   one-hot (`augment.label_smoothing`) otherwise.
//! * Images: the train split is loaded at `model.image` (`Fit::Square`), or at its own
//!   resolution for RandomResizedCrop (`Fit::Native`); the val split with the official eval
//!   transform (`Fit::eval`: resize the short side to `int(image / eval_crop)` and
//!   center-crop, above 32 px). Image folders too large to preload are streamed
//!   (`data.preload`, [`stream`](super::stream)): each image is read and decoded by the
//!   thread that transforms it, with the same result.
//! * Eval ([`Loader::eval`]): the validation set in order, normalised, with the last
//!   partial batch kept and plain one-hot targets (the official eval loss is an unsmoothed
//!   cross-entropy). The eval batch is `train.batch` (the official code uses 1.5× that; it
//!   does not change results).

use super::dataset::Pixels;
use super::mix::{smooth_targets, CutBox, Mixer};
use super::rng::{Purpose, Stream};
use super::sampler;
use super::source::{self, Fit};
use super::stream;
use super::transform::{self, Crop, Normalize, TrainTransform};
use super::{DataError, Dataset};
use crate::ir::{CropKind, Recipe, Source};
use rayon::prelude::*;

/// One batch: `size` images, C×H×W each, f32 normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// size×C×H×W.
    pub images: Vec<f32>,
    /// size×K soft targets (each row sums to 1).
    pub targets: Vec<f32>,
    /// The true labels (before mixing).
    pub labels: Vec<u16>,
    pub size: usize,
    /// The mixing λ (1 when the batch was not mixed).
    pub lam: f64,
}

/// A training batch with everything drawn to make it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    pub batch: Batch,
    /// The dataset index of each sample.
    pub indices: Vec<usize>,
    /// Per sample: the crop, flip, policy ops, jitter and erasing drawn.
    pub samples: Vec<transform::Drawn>,
    /// The cutmix box, when the batch was cut-mixed (mixup when `lam < 1` without a box).
    pub cutmix: Option<CutBox>,
}

/// Batches for one recipe: the train and val datasets (in memory or streamed) plus the
/// transforms.
#[derive(Debug, Clone)]
pub struct Loader {
    pub train: Dataset,
    pub val: Dataset,
    batch: usize,
    seed: u64,
    classes: usize,
    /// Model input (channels, side).
    input: (usize, usize),
    /// `augment.repeated` (1: no repeated augmentation).
    repeats: usize,
    smoothing: f64,
    transform: TrainTransform,
    normalize: Normalize,
    mixer: Option<Mixer>,
}

impl Loader {
    /// Opens `data.train` and `data.val` for `model.channels × model.image²` inputs and
    /// builds the pipeline. Settings the loader cannot honour are refused before anything
    /// is read.
    pub fn new(recipe: &Recipe) -> Result<Self, DataError> {
        Pipeline::new(recipe)?;
        let (c, s) = (recipe.model.channels, recipe.model.image);
        let (train_fit, val_fit) = fits(recipe);
        val_fit.check()?;
        let load = source::Load {
            skip_unreadable: recipe.data.skip_unreadable,
            preload: recipe.data.preload,
        };
        let train = source::open_fit(&recipe.data.train, c, s, train_fit, &load)?;
        let val = source::open_fit(&recipe.data.val, c, s, val_fit, &load)?;
        Self::with_datasets(recipe, train, val)
    }

    /// The pipeline of `recipe` over datasets already in memory, as [`Loader::new`] loads
    /// them: the val images `model.image`-sized (already eval-transformed), the train
    /// images too, except for RandomResizedCrop, which takes any size.
    pub fn with_datasets(recipe: &Recipe, train: Dataset, val: Dataset) -> Result<Self, DataError> {
        let pipeline = Pipeline::new(recipe)?;
        let (c, s, k) = (
            recipe.model.channels,
            recipe.model.image,
            recipe.model.classes,
        );
        let any_size = matches!(pipeline.transform.crop, Crop::RandomResized { .. });
        for (field, d) in [("data.train", &train), ("data.val", &val)] {
            let sized = any_size && field == "data.train";
            if d.channels != c || (!sized && (!d.is_uniform() || (d.height, d.width) != (s, s))) {
                return Err(DataError::Config {
                    field: field.into(),
                    message: if d.is_uniform() {
                        format!(
                            "images are {}×{}×{}, the model takes {c}×{s}×{s}",
                            d.channels, d.height, d.width
                        )
                    } else {
                        format!(
                            "images of {} channel(s) and different sizes, the model takes \
                             {c}×{s}×{s}",
                            d.channels
                        )
                    },
                });
            }
            if d.classes.len() > k {
                return Err(DataError::LabelOutOfRange {
                    what: field.into(),
                    classes: d.classes.len(),
                    expected: k,
                });
            }
        }
        let batch = recipe.train.batch;
        let repeats = recipe.augment.repeated.max(1);
        let epoch = epoch_len(train.len(), repeats);
        if epoch < batch {
            let message = if repeats > 1 {
                format!(
                    "{batch} is more than the {epoch} samples of an epoch (repeated \
                     augmentation keeps ⌊N/256⌋·256 of the {} training images, as the \
                     official RASampler), and training drops the last partial batch",
                    train.len()
                )
            } else {
                format!(
                    "{batch} is more than the {} training images, and training drops the \
                     last partial batch",
                    train.len()
                )
            };
            return Err(DataError::Config {
                field: "train.batch".into(),
                message,
            });
        }
        Ok(Loader {
            train,
            val,
            batch,
            seed: recipe.train.seed,
            classes: k,
            input: (c, s),
            repeats,
            smoothing: recipe.augment.label_smoothing,
            transform: pipeline.transform,
            normalize: pipeline.normalize,
            mixer: pipeline.mixer,
        })
    }

    /// Training steps per epoch, ⌊E / B⌋ for an epoch of E samples (E = N, or
    /// `N // 256 · 256` with repeated augmentation).
    pub fn steps_per_epoch(&self) -> usize {
        epoch_len(self.train.len(), self.repeats) / self.batch
    }

    /// Eval batches, ⌈N_val / B⌉.
    pub fn eval_steps(&self) -> usize {
        self.val.len().div_ceil(self.batch)
    }

    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// K, the width of the targets.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// (C, H, W) of every image in a batch.
    pub fn image_shape(&self) -> (usize, usize, usize) {
        (self.input.0, self.input.1, self.input.1)
    }

    /// The epoch's sample order: a permutation of the training set, or with
    /// `augment.repeated > 1` the `RASampler` indices built from it.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        Stream::new(Purpose::Shuffle, self.seed, epoch, 0).shuffle(&mut order);
        if self.repeats > 1 {
            sampler::ra_indices(&order, self.repeats, 1, 0)
        } else {
            order
        }
    }

    /// The training batches of `epoch`, computed lazily.
    pub fn epoch(&self, epoch: u64) -> impl Iterator<Item = Result<Batch, DataError>> + '_ {
        let order = self.order(epoch);
        (0..self.steps_per_epoch()).map(move |step| self.train_batch(epoch, step, &order))
    }

    /// Training batch `step` of `epoch`, given the epoch's [`order`](Self::order). Fails only
    /// for a streamed split whose file cannot be read (without `data.skip_unreadable`).
    pub fn train_batch(
        &self,
        epoch: u64,
        step: usize,
        order: &[usize],
    ) -> Result<Batch, DataError> {
        self.train_batch_drawn(epoch, step, order).map(|d| d.batch)
    }

    /// [`train_batch`](Self::train_batch) with what was drawn for each sample and for the
    /// batch: what `deitc preview` shows.
    pub fn train_batch_drawn(
        &self,
        epoch: u64,
        step: usize,
        order: &[usize],
    ) -> Result<Drawn, DataError> {
        let b = self.batch;
        let (c, h, w) = self.image_shape();
        let per = c * h * w;
        let idx = order
            .get(step * b..(step + 1) * b)
            .ok_or_else(|| DataError::Config {
                field: "train.batch".into(),
                message: format!("step {step} is past the end of the epoch"),
            })?;
        let mut images = vec![0f32; b * per];
        let drawn: Vec<(usize, transform::Drawn)> = images
            .par_chunks_mut(per)
            .enumerate()
            .map(|(k, out)| {
                let pos = (step * b + k) as u64;
                let mut rng = Stream::new(Purpose::Sample, self.seed, epoch, pos);
                let (used, px) = self.fetch(idx[k])?;
                let d = self
                    .transform
                    .apply(&px.data, px.height, px.width, &mut rng, out);
                Ok((used, d))
            })
            .collect::<Result<_, DataError>>()?;
        let (indices, samples): (Vec<usize>, Vec<transform::Drawn>) = drawn.into_iter().unzip();
        let labels: Vec<u16> = indices.iter().map(|&i| self.train.labels[i]).collect();
        let unmixed = |labels: &[u16]| smooth_targets(labels, self.classes, self.smoothing);
        let (targets, lam, cutmix) = match &self.mixer {
            Some(m) => {
                let mut rng = Stream::new(Purpose::Batch, self.seed, epoch, step as u64);
                match m.apply(&mut images, &labels, (c, h, w), &mut rng) {
                    Ok(mixed) => (mixed.targets, mixed.lam, mixed.cutmix),
                    // Unreachable: the constructor checked that the batch is even.
                    Err(_) => (unmixed(&labels), 1.0, None),
                }
            }
            None => (unmixed(&labels), 1.0, None),
        };
        Ok(Drawn {
            batch: Batch {
                images,
                targets,
                labels,
                size: b,
                lam,
            },
            indices,
            samples,
            cutmix,
        })
    }

    /// Training image `i` and the index it came from: `i` itself, or for a split with
    /// `data.skip_unreadable`, the next readable one after it (wrapping around), so a
    /// batch keeps its size and stays a function of `(recipe, epoch, step)`.
    fn fetch(&self, i: usize) -> Result<(usize, Pixels<'_>), DataError> {
        let n = self.train.len();
        let skip = self.train.skips_unreadable();
        let mut first = None;
        for j in 0..n {
            let k = (i + j) % n;
            match self.train.pixels(k) {
                Ok(px) => return Ok((k, px)),
                Err(e) if skip && stream::is_unreadable(&e) => {
                    first.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first.unwrap_or(DataError::Config {
            field: "data.train".into(),
            message: "the split has no images".into(),
        }))
    }

    /// The validation batches in order, the last one possibly smaller.
    pub fn eval(&self) -> impl Iterator<Item = Result<Batch, DataError>> + '_ {
        (0..self.eval_steps()).map(move |step| self.eval_batch(step))
    }

    /// Validation batch `step`. For a split with `data.skip_unreadable`, images
    /// that cannot be read are left out of the batch (and of the accuracy).
    pub fn eval_batch(&self, step: usize) -> Result<Batch, DataError> {
        let (c, h, w) = self.image_shape();
        let per = c * h * w;
        let skip = self.val.skips_unreadable();
        let lo = (step * self.batch).min(self.val.len());
        let hi = (lo + self.batch).min(self.val.len());
        let done: Vec<Option<(Vec<f32>, u16)>> = (lo..hi)
            .into_par_iter()
            .map(|i| match self.val.pixels(i) {
                Ok(px) => {
                    let mut out = vec![0f32; per];
                    self.normalize.apply(&px.data, &mut out);
                    Ok(Some((out, self.val.labels[i])))
                }
                Err(e) if skip && stream::is_unreadable(&e) => Ok(None),
                Err(e) => Err(e),
            })
            .collect::<Result<_, DataError>>()?;
        let mut images = Vec::with_capacity((hi - lo) * per);
        let mut labels = Vec::with_capacity(hi - lo);
        for (img, label) in done.into_iter().flatten() {
            images.extend_from_slice(&img);
            labels.push(label);
        }
        Ok(Batch {
            images,
            targets: smooth_targets(&labels, self.classes, 0.0),
            size: labels.len(),
            labels,
            lam: 1.0,
        })
    }

    /// Every image file left out or passed over as unreadable so far
    /// (`data.skip_unreadable`), train then val.
    pub fn unreadable(&self) -> Vec<(std::path::PathBuf, String)> {
        let mut all = self.train.unreadable();
        all.extend(self.val.unreadable());
        all
    }
}

/// What the recipe alone determines: the transforms and the mixer, checked.
struct Pipeline {
    transform: TrainTransform,
    normalize: Normalize,
    mixer: Option<Mixer>,
}

impl Pipeline {
    fn new(recipe: &Recipe) -> Result<Self, DataError> {
        let a = &recipe.augment;
        let batch = recipe.train.batch;
        if batch == 0 {
            return Err(DataError::Config {
                field: "train.batch".into(),
                message: "the batch must be positive".into(),
            });
        }
        let mixer = a
            .mix
            .as_ref()
            .and_then(|m| Mixer::new(m, a.label_smoothing, recipe.model.classes));
        if mixer.is_some() && !batch.is_multiple_of(2) {
            return Err(DataError::OddBatch { batch });
        }
        let normalize = Normalize::new(&recipe.data.mean, &recipe.data.std, recipe.model.channels)?;
        let transform = TrainTransform::new(a, recipe.model.image, normalize.clone())?;
        Ok(Pipeline {
            transform,
            normalize,
            mixer,
        })
    }
}

/// How the train and val images are sized when they are loaded: the train split at
/// `model.image` (`Fit::Square`), or at its own resolution for RandomResizedCrop
/// (`Fit::Native`); the val split with the official eval transform (`Fit::eval`).
pub fn fits(recipe: &Recipe) -> (Fit, Fit) {
    let s = recipe.model.image;
    let train = match recipe.augment.crop.kind {
        CropKind::RandomResized => Fit::Native,
        CropKind::Random | CropKind::None => Fit::Square(s),
    };
    let val = Fit::eval(s, recipe.data.eval_crop, recipe.data.interpolation.into());
    (train, val)
}

/// Where a split's images will live during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Residency {
    /// Decoded size in bytes (estimated for images kept at their own size).
    pub bytes: u64,
    /// Read from disk as batches need them rather than preloaded.
    pub streamed: bool,
}

/// For each image-folder split of `recipe` (`"train"`, `"val"`), its decoded size and
/// whether `data.preload` streams it; the other sources and unlistable folders are left
/// out. Reads only folder listings and, for RandomResizedCrop, 64 image headers.
pub fn residency(recipe: &Recipe) -> Vec<(&'static str, Residency)> {
    let (train_fit, val_fit) = fits(recipe);
    let c = recipe.model.channels;
    [
        ("train", &recipe.data.train, train_fit),
        ("val", &recipe.data.val, val_fit),
    ]
    .into_iter()
    .filter_map(|(split, src, fit)| {
        let root = match src {
            Source::ImageFolder { path } => std::path::PathBuf::from(path),
            Source::Digits { split } => source::digits_dir(*split),
            _ => return None,
        };
        let listing = super::image_folder::list(&root).ok()?;
        let bytes = stream::decoded_bytes(&listing.paths(), c, fit);
        let streamed = stream::streams(recipe.data.preload, bytes);
        Some((split, Residency { bytes, streamed }))
    })
    .collect()
}

/// Samples per epoch: N, or `N // 256 · 256` with repeated augmentation.
fn epoch_len(n: usize, repeats: usize) -> usize {
    if repeats > 1 {
        sampler::ra_epoch_len(n)
    } else {
        n
    }
}
