//! Reading a recipe file from disk, refusing what is not a reasonable text file.

use std::path::Path;

/// Recipes are small; anything larger is refused before parsing (1 MiB).
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// Why a file could not be read as recipe text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    NotFound,
    IsDirectory,
    TooLarge { bytes: u64 },
    Binary,
    NotUtf8 { offset: usize },
    Io(String),
}

/// Reads `path` as UTF-8 text of at most [`MAX_SOURCE_BYTES`], without NUL bytes.
pub fn load_file(path: &Path) -> Result<String, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound,
        _ => LoadError::Io(e.to_string()),
    })?;
    if meta.is_dir() {
        return Err(LoadError::IsDirectory);
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(LoadError::TooLarge { bytes: meta.len() });
    }
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io(e.to_string()))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(LoadError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    if bytes.contains(&0) {
        return Err(LoadError::Binary);
    }
    String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}
