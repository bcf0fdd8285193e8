//! The on-disk layout of the data sources a recipe names: which files an ImageFolder root,
//! a CIFAR release or an MNIST-style IDX release holds, and how many samples, without
//! decoding a pixel.
//!
//! Both the checker (class and sample counts before a run, `deitc_lang::check`) and the
//! loader (`deitc_backend::data`) read sources through this one crate, so what `check`
//! counts is what the loader loads.

pub mod cifar;
mod error;
pub mod idx;
pub mod image_folder;

pub use error::LayoutError;
