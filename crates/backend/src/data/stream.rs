//! [`Streamed`]: an image folder read from disk as the batches need it (`data.preload`).
//!
//! A preloaded split is decoded once into memory ([`Dataset::images`]); a split too large
//! for that (ImageNet's train split is ~190 GB decoded) is kept as its file list, and each
//! image is read, decoded and fitted when a batch asks for it, on the loader's threads.
//! Both give the same pixels, so a recipe trains to the same weights either way.
//!
//! `data.preload = auto` preloads when [`decoded_bytes`] estimates at most
//! [`PRELOAD_LIMIT`]: exact for fixed-size fits, and for images kept at their own size
//! (RandomResizedCrop) from the headers of up to 64 files spread over the split.
//!
//! A streamed file that turns out to be unreadable is an error when the batch needs it,
//! or with `data.skip_unreadable` is recorded ([`Streamed::unreadable`]) and passed over
//! (see [`Loader`](super::Loader)).

use super::image_folder;
use super::source::Fit;
use super::DataError;
use crate::ir::Preload;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Decoded sizes above this stream under `data.preload = auto`.
pub const PRELOAD_LIMIT: u64 = 2 << 30;

/// Files of a streamed split, with how each is decoded and fitted.
#[derive(Debug)]
pub struct Streamed {
    /// One file per sample, in dataset order.
    pub files: Vec<PathBuf>,
    pub fit: Fit,
    pub channels: usize,
    /// `data.skip_unreadable`.
    pub skip: bool,
    /// Files found unreadable so far, with the reason.
    unreadable: Mutex<BTreeMap<PathBuf, String>>,
}

impl PartialEq for Streamed {
    fn eq(&self, other: &Self) -> bool {
        (&self.files, self.fit, self.channels, self.skip)
            == (&other.files, other.fit, other.channels, other.skip)
    }
}

impl Streamed {
    pub fn new(files: Vec<PathBuf>, fit: Fit, channels: usize, skip: bool) -> Self {
        Streamed {
            files,
            fit,
            channels,
            skip,
            unreadable: Mutex::new(BTreeMap::new()),
        }
    }

    /// Reads, decodes and fits sample `i`: C×H×W pixels and `(H, W)`. A failure is
    /// recorded when `skip` is on.
    pub fn load(&self, i: usize) -> Result<(Vec<u8>, (usize, usize)), DataError> {
        let path = self.files.get(i).ok_or_else(|| DataError::Config {
            field: "data".into(),
            message: format!("sample {i} is past the {} files", self.files.len()),
        })?;
        if let Some(why) = self.known_unreadable(path) {
            return Err(DataError::Decode {
                path: path.clone(),
                message: why,
            });
        }
        match image_folder::decode(path, self.channels) {
            Ok((img, h, w)) => Ok(self.fit.apply(&img, (self.channels, h, w))),
            Err(e) => {
                if self.skip && is_unreadable(&e) {
                    if let Ok(mut m) = self.unreadable.lock() {
                        m.insert(path.clone(), e.to_string());
                    }
                }
                Err(e)
            }
        }
    }

    fn known_unreadable(&self, path: &Path) -> Option<String> {
        self.unreadable.lock().ok()?.get(path).cloned()
    }

    /// The files found unreadable so far (with `skip`), with the reason, by path.
    pub fn unreadable(&self) -> Vec<(PathBuf, String)> {
        self.unreadable
            .lock()
            .map(|m| m.iter().map(|(p, w)| (p.clone(), w.clone())).collect())
            .unwrap_or_default()
    }
}

/// Whether a split of `bytes` decoded is streamed under `preload`.
pub fn streams(preload: Preload, bytes: u64) -> bool {
    match preload {
        Preload::Always => false,
        Preload::Never => true,
        Preload::Auto => bytes > PRELOAD_LIMIT,
    }
}

/// A failure that `data.skip_unreadable` passes over: the file could not be read or decoded.
pub fn is_unreadable(e: &DataError) -> bool {
    matches!(
        e,
        DataError::Decode { .. } | DataError::Io { .. } | DataError::Unreadable { .. }
    )
}

/// The decoded size in bytes of `files` under `fit`: exact for a fixed-size fit; for
/// `Fit::Native` extrapolated from the headers of up to 64 evenly spaced files (files whose
/// header cannot be read, and anything but a regular file, are left out of the sample).
pub fn decoded_bytes(files: &[PathBuf], channels: usize, fit: Fit) -> u64 {
    let n = files.len() as u64;
    let c = channels as u64;
    match fit {
        Fit::Square(s) | Fit::Eval { side: s, .. } => n * c * (s as u64) * (s as u64),
        Fit::Native => {
            let step = files.len().div_ceil(64).max(1);
            let areas: Vec<u64> = files
                .iter()
                .step_by(step)
                // Only a regular file is opened: a FIFO would block.
                .filter(|p| crate::io_limits::regular_file(p).is_ok())
                .filter_map(|p| image::image_dimensions(p).ok())
                .map(|(w, h)| u64::from(w) * u64::from(h))
                .collect();
            if areas.is_empty() {
                return 0;
            }
            let mean = areas.iter().sum::<u64>() / areas.len() as u64;
            n * c * mean
        }
    }
}
