//! Why a checkpoint could not be read into a model.

use crate::io_limits::{NonFinite, ReadError};
use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read: missing, not a regular file, over the size limit
    /// ([`crate::io_limits`]), or the OS refused.
    Read { path: PathBuf, error: ReadError },
    /// Not a well-formed safetensors file.
    Format { reason: String },
    /// The model has a tensor the checkpoint lacks.
    Missing { key: String },
    /// Same key, different shape (`expected` is in the checkpoint's layout, e.g. timm's
    /// `[D, C, P, P]` for `patch_embed.proj.weight`).
    Shape {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    Dtype {
        key: String,
        found: String,
        expected: &'static str,
    },
    /// The checkpoint has tensors the model does not (e.g. a distilled checkpoint read into a
    /// plain ViT).
    Unexpected { keys: Vec<String> },
    /// A tensor holding NaN or infinite values ([`crate::io_limits::check_finite`]).
    NonFinite(NonFinite),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, error } => {
                write!(f, "cannot read `{}`: {error}", path.display())
            }
            LoadError::Format { reason } => write!(f, "not a safetensors file: {reason}"),
            LoadError::Missing { key } => write!(f, "the checkpoint has no tensor `{key}`"),
            LoadError::Shape {
                key,
                expected,
                found,
            } => write!(
                f,
                "`{key}` has shape {found:?} in the checkpoint, but the model expects {expected:?}"
            ),
            LoadError::Dtype {
                key,
                found,
                expected,
            } => write!(f, "`{key}` has dtype {found}, expected {expected}"),
            LoadError::Unexpected { keys } => write!(
                f,
                "the checkpoint has {} tensor(s) the model lacks: {}",
                keys.len(),
                keys.join(", ")
            ),
            LoadError::NonFinite(n) => write!(f, "{n}: weights must be finite"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}
