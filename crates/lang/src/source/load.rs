//! Reading a recipe file from disk, refusing what is not a reasonable text file.

use deitc_diag::read::{read_bounded, ReadError};
use std::path::Path;

/// Recipes are small; anything larger is refused before parsing (1 MiB).
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// Why a file could not be read as recipe text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    NotFound,
    IsDirectory,
    /// A FIFO, a device or a socket (`what`: `a FIFO (named pipe)`, …), never opened.
    NotRegular {
        what: &'static str,
    },
    /// Over [`MAX_SOURCE_BYTES`]: its size when the metadata says so, `None` when more was
    /// read than the metadata said.
    TooLarge {
        bytes: Option<u64>,
    },
    Binary,
    NotUtf8 {
        offset: usize,
    },
    Io(String),
}

/// Reads `path` as UTF-8 text of at most [`MAX_SOURCE_BYTES`], without NUL bytes. Only a
/// regular file (or a symlink to one) is opened, and never more than the limit is read
/// (`deitc_diag::read`).
pub fn load_file(path: &Path) -> Result<String, LoadError> {
    let bytes = read_bounded(path, MAX_SOURCE_BYTES).map_err(|e| match e {
        e if e.is_not_found() => LoadError::NotFound,
        ReadError::IsDirectory => LoadError::IsDirectory,
        ReadError::NotRegular { kind } => LoadError::NotRegular { what: kind.words() },
        ReadError::TooLarge { size, .. } => LoadError::TooLarge { bytes: size },
        ReadError::Io(e) => LoadError::Io(e.to_string()),
    })?;
    if bytes.contains(&0) {
        return Err(LoadError::Binary);
    }
    String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}
