//! [`open`]: an IR [`Source`] as an in-memory [`Dataset`].

use super::{image_folder, synthetic, DataError, Dataset};
use crate::ir::{Source, Split};
use std::path::{Path, PathBuf};

/// Loads `source` as `channels × image × image` u8 images.
///
/// * `digits()`: the bundled ImageFolder copy in `data/digits/<train|val>`, looked up in the
///   crate's directory as it was at compile time (`CARGO_MANIFEST_DIR`), else relative to
///   the current directory. 8×8 grayscale; other sizes are resized (bicubic) and 3 channels
///   replicate the gray value.
/// * `image_folder(path)`: see [`image_folder`].
/// * `synthetic(…)`: see [`synthetic`].
/// * `cifar10`/`cifar100`: not implemented yet ([`DataError::Unsupported`]).
pub fn open(source: &Source, channels: usize, image: usize) -> Result<Dataset, DataError> {
    match source {
        Source::Digits { split } => image_folder::load(&digits_dir(*split), channels, image),
        Source::ImageFolder { path } => image_folder::load(Path::new(path), channels, image),
        Source::Synthetic {
            samples,
            classes,
            seed,
        } => synthetic::generate(*samples, *classes, *seed, channels, image),
        Source::Cifar10 { path, .. } | Source::Cifar100 { path, .. } => {
            let name = if matches!(source, Source::Cifar10 { .. }) {
                "cifar10"
            } else {
                "cifar100"
            };
            Err(DataError::Unsupported {
                what: format!("{name}(\"{path}\")"),
                reason: "the CIFAR binary format is not read yet; convert it to an \
                         image_folder(…) layout for now"
                    .into(),
            })
        }
    }
}

/// Where the bundled digits split lives.
pub fn digits_dir(split: Split) -> PathBuf {
    let name = match split {
        Split::Train => "train",
        Split::Val => "val",
    };
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/digits")
        .join(name);
    if built.is_dir() {
        built
    } else {
        Path::new("data/digits").join(name)
    }
}
