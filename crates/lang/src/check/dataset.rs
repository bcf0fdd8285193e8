//! What `check` can learn about a data source without loading it: class count and size.

use crate::ir::{Source, Split};
use deitc_layout::cifar::{self, Cifar};
use deitc_layout::{image_folder, LayoutError};
use std::path::Path;

/// Facts about one source; `None` where unknown (e.g. the folder is not on this machine).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFacts {
    pub classes: Option<usize>,
    pub samples: Option<usize>,
    /// The path that was looked for and not found.
    pub missing: Option<String>,
    /// Why the files that are here cannot be loaded (an empty class folder, a CIFAR file
    /// that is not whole records), naming the path: what `deitc run` would stop on.
    pub unusable: Option<String>,
}

/// Digits split sizes (stratified 80/20 of 1,797 images).
pub const DIGITS_TRAIN: usize = 1437;
pub const DIGITS_VAL: usize = 360;

pub fn facts(source: &Source) -> SourceFacts {
    let known = |classes, samples| SourceFacts {
        classes: Some(classes),
        samples: Some(samples),
        missing: None,
        unusable: None,
    };
    match source {
        Source::Digits {
            split: Split::Train,
        } => known(10, DIGITS_TRAIN),
        Source::Digits { split: Split::Val } => known(10, DIGITS_VAL),
        Source::Synthetic {
            samples, classes, ..
        } => known(*classes, *samples),
        Source::Cifar10 { path, split } => cifar(path, Cifar::Ten, *split),
        Source::Cifar100 { path, split } => cifar(path, Cifar::Hundred, *split),
        Source::ImageFolder { path } => image_folder(Path::new(path)),
    }
}

/// A CIFAR split: the record count of its files when they are here (in the folder named or
/// its `cifar-10-batches-bin` / `cifar-100-binary` sub-folder), else the official size
/// (50,000 train, 10,000 val) and the path that is missing.
fn cifar(path: &str, which: Cifar, split: Split) -> SourceFacts {
    let root = Path::new(path);
    let official = match split {
        Split::Train => 50_000,
        Split::Val => 10_000,
    };
    let mut unusable = None;
    let (samples, missing) = if !root.is_dir() {
        (Some(official), Some(path.to_string()))
    } else if let Some(files) = cifar::split_files(root, which, split) {
        // None when a file is not a whole number of records: say which.
        let count = cifar::count(root, which, split);
        if count.is_none() {
            unusable = files.iter().find_map(|f| {
                let len = std::fs::metadata(f).ok()?.len();
                let record = which.record_bytes() as u64;
                (len == 0 || len % record != 0).then(|| {
                    format!(
                        "`{}` is {len} bytes, not a whole number of {record}-byte {} records",
                        f.display(),
                        which.name()
                    )
                })
            });
        }
        (count, None)
    } else {
        let dir = cifar::resolve(root, which, split).unwrap_or_else(|| root.to_path_buf());
        let absent = which
            .files(split)
            .iter()
            .map(|f| dir.join(f))
            .find(|f| !f.is_file())
            .unwrap_or(dir);
        (Some(official), Some(absent.display().to_string()))
    };
    SourceFacts {
        classes: Some(which.classes()),
        samples,
        missing,
        unusable,
    }
}

/// Counts the classes and images of an ImageFolder root as the loader lists them; a root
/// that cannot be listed (no class folders, an empty class folder) has unknown counts and
/// says why, naming the folder.
fn image_folder(root: &Path) -> SourceFacts {
    match image_folder::list(root) {
        Ok(listing) => SourceFacts {
            classes: Some(listing.classes.len()),
            samples: Some(listing.files.len()),
            missing: None,
            unusable: None,
        },
        Err(LayoutError::MissingFolder { .. }) => SourceFacts {
            missing: Some(root.display().to_string()),
            ..SourceFacts::default()
        },
        Err(e) => SourceFacts {
            unusable: Some(e.to_string()),
            ..SourceFacts::default()
        },
    }
}
