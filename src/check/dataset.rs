//! What `check` can learn about a data source without loading it: class count and size.

use crate::ir::{Source, Split};
use std::path::Path;

/// Facts about one source; `None` where unknown (e.g. the folder is not on this machine).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFacts {
    pub classes: Option<usize>,
    pub samples: Option<usize>,
    /// The path that was looked for and not found.
    pub missing: Option<String>,
}

/// Digits split sizes (stratified 80/20 of 1,797 images).
pub const DIGITS_TRAIN: usize = 1437;
pub const DIGITS_VAL: usize = 360;

pub fn facts(source: &Source) -> SourceFacts {
    let known = |classes, samples| SourceFacts {
        classes: Some(classes),
        samples: Some(samples),
        missing: None,
    };
    match source {
        Source::Digits {
            split: Split::Train,
        } => known(10, DIGITS_TRAIN),
        Source::Digits { split: Split::Val } => known(10, DIGITS_VAL),
        Source::Synthetic {
            samples, classes, ..
        } => known(*classes, *samples),
        Source::Cifar10 { path, split } => file_backed(path, 10, *split),
        Source::Cifar100 { path, split } => file_backed(path, 100, *split),
        Source::ImageFolder { path } => image_folder(Path::new(path)),
    }
}

fn file_backed(path: &str, classes: usize, split: Split) -> SourceFacts {
    let samples = match split {
        Split::Train => 50_000,
        Split::Val => 10_000,
    };
    SourceFacts {
        classes: Some(classes),
        samples: Some(samples),
        missing: (!Path::new(path).is_dir()).then(|| path.to_string()),
    }
}

/// Counts class sub-directories and image files (jpg/jpeg/png) of an ImageFolder layout.
fn image_folder(root: &Path) -> SourceFacts {
    let Ok(entries) = std::fs::read_dir(root) else {
        return SourceFacts {
            missing: Some(root.display().to_string()),
            ..SourceFacts::default()
        };
    };
    let mut classes = 0;
    let mut samples = 0;
    for class_dir in entries.flatten().filter(|e| e.path().is_dir()) {
        classes += 1;
        if let Ok(files) = std::fs::read_dir(class_dir.path()) {
            samples += files.flatten().filter(|f| is_image(&f.path())).count();
        }
    }
    SourceFacts {
        classes: Some(classes),
        samples: Some(samples),
        missing: None,
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}
