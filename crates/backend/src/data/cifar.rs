//! The CIFAR-10 and CIFAR-100 binary releases, as distributed.
//!
//! * CIFAR-10 (`cifar-10-binary.tar.gz` → `cifar-10-batches-bin/`): train is
//!   `data_batch_1.bin` … `data_batch_5.bin` in that order, val is `test_batch.bin`. Each
//!   record is 1 label byte (0..=9) then 3072 pixel bytes.
//! * CIFAR-100 (`cifar-100-binary.tar.gz` → `cifar-100-binary/`): train is `train.bin`,
//!   val is `test.bin`. Each record is a coarse label byte, a fine label byte (0..=99, the
//!   label used, as torchvision's `CIFAR100`) then 3072 pixel bytes.
//!
//! The pixels are already planar: 1024 red, 1024 green, 1024 blue, each 32×32 row-major,
//! which is this crate's C×H×W layout. The path may name the folder holding the files or
//! its parent (the folder the archive was extracted into). Class names come from
//! `batches.meta.txt` / `fine_label_names.txt` when present, else they are the label
//! numbers. A file that is not a whole number of records, or holds a label out of range,
//! is a [`DataError::Decode`] naming it; one that is not a regular file, or holds more
//! than [`MAX_CIFAR_RECORDS`](io_limits::MAX_CIFAR_RECORDS) records, is not read.

use super::{DataError, Dataset};
use crate::io_limits;
use crate::ir::Split;
pub use deitc_layout::cifar::{count, resolve, split_files, Cifar, IMAGE_BYTES};
use std::path::Path;

/// Loads a split as 3×32×32 RGB images (labels: CIFAR-100's fine labels).
pub fn load(path: &Path, which: Cifar, split: Split) -> Result<Dataset, DataError> {
    if !path.is_dir() {
        return Err(DataError::MissingFolder {
            path: path.to_path_buf(),
        });
    }
    let dir = resolve(path, which, split).unwrap_or_else(|| path.to_path_buf());
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for name in which.files(split) {
        let file = dir.join(name);
        let record = which.record_bytes();
        // A regular file of at most the whole release's records.
        let limit = io_limits::MAX_CIFAR_RECORDS * record as u64;
        let bytes = io_limits::read(&file, limit).map_err(|e| DataError::read(&file, e))?;
        let bad = |message: String| DataError::Decode {
            path: file.clone(),
            message,
        };
        if bytes.is_empty() || bytes.len() % record != 0 {
            return Err(bad(format!(
                "{} bytes is not a whole number of {}-byte {} records (truncated or not \
                 the binary release?)",
                bytes.len(),
                record,
                which.name()
            )));
        }
        images.reserve(bytes.len() / record * IMAGE_BYTES);
        for (i, rec) in bytes.chunks_exact(record).enumerate() {
            let label = rec[which.label_bytes() - 1];
            if usize::from(label) >= which.classes() {
                return Err(bad(format!(
                    "record {i} has label {label}; {} labels are 0..={}",
                    which.name(),
                    which.classes() - 1
                )));
            }
            labels.push(u16::from(label));
            images.extend_from_slice(&rec[which.label_bytes()..]);
        }
    }
    Ok(Dataset::uniform(
        images,
        labels,
        class_names(&dir, which),
        3,
        32,
        32,
    ))
}

/// The class names from the release's text file, or the label numbers.
fn class_names(dir: &Path, which: Cifar) -> Vec<String> {
    let listed: Vec<String> =
        io_limits::read(&dir.join(which.names_file()), io_limits::MAX_NAMES_BYTES)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(|t| {
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
    if listed.len() == which.classes() {
        listed
    } else {
        (0..which.classes()).map(|k| k.to_string()).collect()
    }
}
