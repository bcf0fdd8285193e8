//! Why a checkpoint could not be read into a model.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum LoadError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
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
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
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
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
