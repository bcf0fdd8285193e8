//! The CIFAR-10 and CIFAR-100 binary releases' files, as distributed.
//!
//! * CIFAR-10 (`cifar-10-binary.tar.gz` → `cifar-10-batches-bin/`): train is
//!   `data_batch_1.bin` … `data_batch_5.bin` in that order, val is `test_batch.bin`. Each
//!   record is 1 label byte (0..=9) then 3072 pixel bytes.
//! * CIFAR-100 (`cifar-100-binary.tar.gz` → `cifar-100-binary/`): train is `train.bin`,
//!   val is `test.bin`. Each record is a coarse label byte, a fine label byte, then 3072
//!   pixel bytes.
//!
//! The path may name the folder holding the files or its parent (the folder the archive was
//! extracted into).

use deitc_ir::Split;
use std::path::{Path, PathBuf};

/// Which release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar {
    Ten,
    Hundred,
}

/// Pixels per image, 3×32×32.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;

impl Cifar {
    pub fn name(self) -> &'static str {
        match self {
            Cifar::Ten => "CIFAR-10",
            Cifar::Hundred => "CIFAR-100",
        }
    }

    pub fn classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred => 100,
        }
    }

    /// Label bytes before the pixels of each record.
    pub fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred => 2,
        }
    }

    pub fn record_bytes(self) -> usize {
        self.label_bytes() + IMAGE_BYTES
    }

    /// The folder the archive extracts to.
    pub fn folder(self) -> &'static str {
        match self {
            Cifar::Ten => "cifar-10-batches-bin",
            Cifar::Hundred => "cifar-100-binary",
        }
    }

    /// The files of a split, in order.
    pub fn files(self, split: Split) -> &'static [&'static str] {
        match (self, split) {
            (Cifar::Ten, Split::Train) => &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            (Cifar::Ten, Split::Val) => &["test_batch.bin"],
            (Cifar::Hundred, Split::Train) => &["train.bin"],
            (Cifar::Hundred, Split::Val) => &["test.bin"],
        }
    }

    /// The release's text file of class names.
    pub fn names_file(self) -> &'static str {
        match self {
            Cifar::Ten => "batches.meta.txt",
            Cifar::Hundred => "fine_label_names.txt",
        }
    }
}

/// The folder holding the split's files: `path` itself, or `path/<release folder>`.
/// None when neither holds the first file of the split.
pub fn resolve(path: &Path, which: Cifar, split: Split) -> Option<PathBuf> {
    let first = which.files(split)[0];
    [path.to_path_buf(), path.join(which.folder())]
        .into_iter()
        .find(|d| d.join(first).is_file())
}

/// The paths of the split's files (resolved as [`resolve`] does), if they all exist.
pub fn split_files(path: &Path, which: Cifar, split: Split) -> Option<Vec<PathBuf>> {
    let dir = resolve(path, which, split)?;
    let files: Vec<PathBuf> = which.files(split).iter().map(|f| dir.join(f)).collect();
    files.iter().all(|f| f.is_file()).then_some(files)
}

/// The number of records of a split from the file sizes, without reading them; None when
/// a file is missing or not a whole number of records.
pub fn count(path: &Path, which: Cifar, split: Split) -> Option<usize> {
    let mut n = 0;
    for f in split_files(path, which, split)? {
        let len = usize::try_from(std::fs::metadata(&f).ok()?.len()).ok()?;
        if len % which.record_bytes() != 0 {
            return None;
        }
        n += len / which.record_bytes();
    }
    Some(n)
}
