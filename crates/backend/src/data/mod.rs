//! Data: loading images into memory and turning them into augmented, normalised batches.
//!
//! The pipeline mirrors timm 0.3.2's `transforms_imagenet_train` as the official DeiT code
//! builds it: `RandomResizedCrop` (or, at ≤ 32 px, `RandomCrop(size, padding)`) →
//! `RandomHorizontalFlip(hflip)` → RandAugment/AutoAugment (or ColorJitter) → `ToTensor` →
//! `Normalize(mean, std)` → `RandomErasing` per sample, then `Mixup`/`CutMix` in `batch`
//! mode with label smoothing folded into soft targets.
//!
//! * [`source::open`] turns an IR [`Source`](crate::ir::Source) into a [`Dataset`]
//!   (u8, N×C×H×W, in memory or streamed), via [`image_folder`] for folders and the bundled digits,
//!   [`cifar`] and [`idx`] (MNIST, Fashion-MNIST) for the released binary files, or
//!   [`synthetic`] for generated data.
//! * [`stream`] reads image folders too large to preload from disk as batches need them
//!   (`data.preload`).
//! * [`transform`] and [`erasing`] are the per-sample steps, [`mix`] the per-batch one.
//! * [`pil_ops`] holds the image ops of timm's AutoAugment/RandAugment, bit-exact to Pillow;
//!   [`policy`] samples them as RandAugment and AutoAugment do.
//! * [`preview`] draws a contact sheet of augmented samples for `deitc preview`.
//! * [`loader::Loader`] ties them together from a [`Recipe`](crate::ir::Recipe):
//!   shuffling, batching and parallel augmentation.
//! * [`rng`] holds the counter-based random streams: every random draw is a function of
//!   `(train.seed, epoch, sample or batch index)`, so batches do not depend on the number
//!   of threads or the order in which they run.
//!
//! Every failure is a [`DataError`] whose message names the path or recipe field and what
//! is wrong.

pub mod cifar;
pub mod color;
pub mod dataset;
pub mod erasing;
pub mod error;
pub mod idx;
pub mod image_folder;
pub mod loader;
pub mod mix;
pub mod pil_ops;
pub mod policy;
pub mod preview;
pub mod resample;
pub mod rng;
pub mod sampler;
pub mod source;
pub mod stream;
pub mod synthetic;
pub mod transform;
pub mod turbojpeg;

pub use dataset::Dataset;
pub use error::DataError;
pub use loader::{Batch, Loader};
