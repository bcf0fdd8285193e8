//! [`DataError`]: why a data source could not be loaded or a recipe's data settings used.

use crate::io_limits::ReadError;
use std::fmt;
use std::path::{Path, PathBuf};

/// A data-loading or data-configuration failure. Each variant carries the path (or the
/// recipe field) it is about, so the message can point at it.
#[derive(Debug)]
pub enum DataError {
    /// A dataset folder that does not exist (or is not a folder).
    MissingFolder { path: PathBuf },
    /// A file of a dataset release that is not there (an IDX file, plain or `.gz`).
    MissingFile { path: PathBuf },
    /// An IDX file (MNIST, Fashion-MNIST) that is not what it should be: its header, its
    /// length, a label, its gzip stream, or its count against the other file of the split.
    Idx {
        path: PathBuf,
        problem: deitc_layout::idx::IdxProblem,
    },
    /// Reading a folder or file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is not read: a directory, a FIFO or a device where a file should be, or
    /// one over its size limit ([`crate::io_limits`]).
    Unreadable { path: PathBuf, error: ReadError },
    /// An ImageFolder root without any class sub-folder.
    NoClasses { path: PathBuf },
    /// A class folder without any `.png`/`.jpg`/`.jpeg` file.
    EmptyClass { path: PathBuf },
    /// A file that the `image` crate could not decode.
    Decode { path: PathBuf, message: String },
    /// More classes than labels can hold (u16).
    TooManyClasses { path: PathBuf, count: usize },
    /// A dataset label that the model's head cannot represent.
    LabelOutOfRange {
        what: String,
        classes: usize,
        expected: usize,
    },
    /// A source or setting this loader does not implement (yet).
    Unsupported { what: String, reason: String },
    /// A recipe value the loader cannot work with; `field` is the recipe path.
    Config { field: String, message: String },
    /// Mixup/CutMix in batch mode pairs sample i with B−1−i, so B must be even.
    OddBatch { batch: usize },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::MissingFolder { path } => {
                write!(f, "dataset folder `{}` does not exist", path.display())
            }
            DataError::MissingFile { path } => write!(
                f,
                "dataset file `{}` (or `{}.gz`) does not exist",
                path.display(),
                path.display()
            ),
            DataError::Idx { path, problem } => write!(f, "`{}` {problem}", path.display()),
            DataError::Io { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
            }
            DataError::Unreadable { path, error } => {
                write!(f, "cannot read `{}`: {error}", path.display())
            }
            DataError::NoClasses { path } => write!(
                f,
                "`{}` has no class sub-folders (expected `<root>/<class>/<image>.png|jpg`)",
                path.display()
            ),
            DataError::EmptyClass { path } => write!(
                f,
                "class folder `{}` has no .png/.jpg/.jpeg images",
                path.display()
            ),
            DataError::Decode { path, message } => {
                write!(f, "cannot decode image `{}`: {message}", path.display())
            }
            DataError::TooManyClasses { path, count } => write!(
                f,
                "`{}` has {count} classes; at most {} are supported",
                path.display(),
                u16::MAX as usize + 1
            ),
            DataError::LabelOutOfRange {
                what,
                classes,
                expected,
            } => write!(
                f,
                "{what} has {classes} classes, but the model has {expected} (model.classes)"
            ),
            DataError::Unsupported { what, reason } => write!(f, "{what}: {reason}"),
            DataError::Config { field, message } => write!(f, "`{field}`: {message}"),
            DataError::OddBatch { batch } => write!(
                f,
                "`train.batch` = {batch}: mixup/cutmix in batch mode pairs each sample with \
                 the reversed batch, so the batch must be even"
            ),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            DataError::Unreadable { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl DataError {
    /// Why the file at `path` was not read ([`crate::io_limits::read`]).
    pub fn read(path: &Path, error: ReadError) -> DataError {
        let path = path.to_path_buf();
        match error {
            ReadError::Io(source) => DataError::Io { path, source },
            error => DataError::Unreadable { path, error },
        }
    }
}

/// A listing failure is the data error of the same name.
impl From<deitc_layout::LayoutError> for DataError {
    fn from(e: deitc_layout::LayoutError) -> Self {
        use deitc_layout::LayoutError as L;
        match e {
            L::MissingFolder { path } => DataError::MissingFolder { path },
            L::MissingFile { path } => DataError::MissingFile { path },
            L::Idx { path, problem } => DataError::Idx { path, problem },
            L::Io { path, source } => DataError::Io { path, source },
            L::NoClasses { path } => DataError::NoClasses { path },
            L::EmptyClass { path } => DataError::EmptyClass { path },
            L::TooManyClasses { path, count } => DataError::TooManyClasses { path, count },
        }
    }
}
