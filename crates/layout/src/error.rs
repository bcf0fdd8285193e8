//! [`LayoutError`]: why a source's files could not be listed.

use crate::idx::IdxProblem;
use std::fmt;
use std::path::PathBuf;

/// A listing failure, with the path it is about.
#[derive(Debug)]
pub enum LayoutError {
    /// A dataset folder that does not exist (or is not a folder).
    MissingFolder { path: PathBuf },
    /// A file of a dataset release that is not there (an IDX file, plain or `.gz`).
    MissingFile { path: PathBuf },
    /// An IDX file (MNIST, Fashion-MNIST) whose header is not what it should be.
    Idx { path: PathBuf, problem: IdxProblem },
    /// Reading a folder failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An ImageFolder root without any class sub-folder.
    NoClasses { path: PathBuf },
    /// A class folder without any `.png`/`.jpg`/`.jpeg` file.
    EmptyClass { path: PathBuf },
    /// More classes than labels can hold (u16).
    TooManyClasses { path: PathBuf, count: usize },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::MissingFolder { path } => {
                write!(f, "dataset folder `{}` does not exist", path.display())
            }
            LayoutError::MissingFile { path } => write!(
                f,
                "dataset file `{}` (or `{}.gz`) does not exist",
                path.display(),
                path.display()
            ),
            LayoutError::Idx { path, problem } => write!(f, "`{}` {problem}", path.display()),
            LayoutError::Io { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
            }
            LayoutError::NoClasses { path } => write!(
                f,
                "`{}` has no class sub-folders (expected `<root>/<class>/<image>.png|jpg`)",
                path.display()
            ),
            LayoutError::EmptyClass { path } => write!(
                f,
                "class folder `{}` has no .png/.jpg/.jpeg images",
                path.display()
            ),
            LayoutError::TooManyClasses { path, count } => write!(
                f,
                "`{}` has {count} classes; at most {} are supported",
                path.display(),
                u16::MAX as usize + 1
            ),
        }
    }
}

impl std::error::Error for LayoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LayoutError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
