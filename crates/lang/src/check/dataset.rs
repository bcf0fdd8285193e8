//! What `check` can learn about a data source without loading it: class count, sample
//! count and, for the fixed-size releases, the images' own size.

use crate::ir::{Source, Split};
use deitc_layout::cifar::{self, Cifar};
use deitc_layout::idx::{self, Idx};
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
    /// that is not whole records, an IDX file with a wrong header), naming the path: what
    /// `deitc run` would stop on.
    pub unusable: Option<String>,
    /// The images' own channels and side, for the releases whose images all have one size
    /// (CIFAR 3 × 32, MNIST and Fashion-MNIST 1 × 28, digits 1 × 8); the loader converts
    /// them to `model.channels` (1 or 3) and resizes them to `model.image`.
    pub native: Option<(usize, usize)>,
}

/// Digits split sizes (stratified 80/20 of 1,797 images).
pub const DIGITS_TRAIN: usize = 1437;
pub const DIGITS_VAL: usize = 360;

pub fn facts(source: &Source) -> SourceFacts {
    let known = |classes, samples, native| SourceFacts {
        classes: Some(classes),
        samples: Some(samples),
        missing: None,
        unusable: None,
        native,
    };
    match source {
        Source::Digits {
            split: Split::Train,
        } => known(10, DIGITS_TRAIN, Some((1, 8))),
        Source::Digits { split: Split::Val } => known(10, DIGITS_VAL, Some((1, 8))),
        Source::Synthetic {
            samples, classes, ..
        } => known(*classes, *samples, None),
        Source::Cifar10 { path, split } => cifar(path, Cifar::Ten, *split),
        Source::Cifar100 { path, split } => cifar(path, Cifar::Hundred, *split),
        Source::FashionMnist { path, split } => idx_release(path, Idx::FashionMnist, *split),
        Source::Mnist { path, split } => idx_release(path, Idx::Mnist, *split),
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
        native: Some((3, 32)),
    }
}

/// An MNIST or Fashion-MNIST split: the count its IDX headers declare (only the headers
/// are read, a few bytes even of a `.gz` file), else the official size (60,000 train,
/// 10,000 val) and the folder or file that is missing; a header that is wrong (magic
/// number, image size, a count the labels do not match, a plain file of the wrong length)
/// makes the source unusable.
fn idx_release(path: &str, which: Idx, split: Split) -> SourceFacts {
    let mut facts = SourceFacts {
        classes: Some(idx::CLASSES),
        samples: Some(which.official_count(split)),
        native: Some((1, idx::SIDE)),
        ..SourceFacts::default()
    };
    match idx::count(Path::new(path), which, split) {
        Ok(n) => facts.samples = Some(n),
        Err(LayoutError::MissingFolder { .. }) => facts.missing = Some(path.to_string()),
        // Either name will do: `…-ubyte` or `…-ubyte.gz`.
        Err(LayoutError::MissingFile { path }) => {
            facts.missing = Some(format!("{}[.gz]", path.display()))
        }
        Err(e) => {
            facts.samples = None;
            facts.unusable = Some(e.to_string());
        }
    }
    facts
}

/// Counts the classes and images of an ImageFolder root as the loader lists them; a root
/// that cannot be listed (no class folders, an empty class folder) has unknown counts and
/// says why, naming the folder.
fn image_folder(root: &Path) -> SourceFacts {
    match image_folder::list(root) {
        Ok(listing) => SourceFacts {
            classes: Some(listing.classes.len()),
            samples: Some(listing.files.len()),
            ..SourceFacts::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fashion(path: &Path, split: Split) -> SourceFacts {
        facts(&Source::FashionMnist {
            path: path.display().to_string(),
            split,
        })
    }

    /// An IDX file: the magic number, then `dims`, then `body`.
    fn idx_file(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend(body);
        out
    }

    #[test]
    fn idx_splits_are_counted_from_their_headers() {
        let dir = std::env::temp_dir().join(format!("deitc-lang-idx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        // Absent folder: the official size and the folder as missing.
        let absent = fashion(&dir.join("nope"), Split::Train);
        assert_eq!((absent.classes, absent.samples), (Some(10), Some(60_000)));
        assert_eq!(absent.native, Some((1, 28)));
        assert!(absent.missing.is_some_and(|m| m.ends_with("nope")));
        // A folder without the val files: the first missing one, plain or `.gz`.
        let val = fashion(&dir, Split::Val);
        assert_eq!(val.samples, Some(10_000));
        assert_eq!(
            val.missing,
            Some(format!(
                "{}[.gz]",
                dir.join("t10k-images-idx3-ubyte").display()
            ))
        );
        // Three images and labels: counted, nothing missing.
        let images = idx_file(0x803, &[3, 28, 28], &[0; 3 * 784]);
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), &images).expect("write");
        std::fs::write(
            dir.join("t10k-labels-idx1-ubyte"),
            idx_file(0x801, &[3], &[1, 2, 3]),
        )
        .expect("write");
        let val = fashion(&dir, Split::Val);
        assert_eq!(
            (val.samples, &val.missing, &val.unusable),
            (Some(3), &None, &None)
        );
        // A truncated images file: unusable, naming it; no count.
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), &images[..400]).expect("write");
        let val = fashion(&dir, Split::Val);
        assert_eq!(val.samples, None);
        let why = val.unusable.expect("unusable");
        assert!(
            why.contains("t10k-images-idx3-ubyte` is 400 bytes, but its header declares 2368"),
            "{why}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_installed_fashion_mnist_is_counted_quickly() {
        let root = Path::new("/usr/share/datasets/fashion-mnist");
        if !root.is_dir() {
            eprintln!("skipped: {} is not installed", root.display());
            return;
        }
        let started = std::time::Instant::now();
        let (train, val) = (fashion(root, Split::Train), fashion(root, Split::Val));
        assert_eq!((train.samples, val.samples), (Some(60_000), Some(10_000)));
        assert_eq!((train.missing, val.unusable), (None, None));
        // Headers only: milliseconds, not the second that inflating 26 MB takes.
        assert!(
            started.elapsed().as_millis() < 200,
            "{:?}",
            started.elapsed()
        );
    }
}
