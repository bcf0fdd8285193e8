//! Checkpoints: one safetensors file with the model (`model.*`, timm names), the EMA
//! (`ema.*`), the optimizer moments (`opt.m.*`, `opt.v.*`) and, as metadata ([`Meta`], the
//! one place its keys are written and read), where training stands. Written atomically;
//! the data order and every random draw are functions of (seed, epoch, index, step), so no
//! generator state needs saving.

use super::graph::{Graph, GraphError};
use super::tensor_io::{to_bytes, write_atomically_with, WriteFailure};
use crate::model::TensorFile;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

/// Where training stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Position {
    /// Epochs fully done.
    pub epoch: u64,
    /// Steps done in the epoch after those (a mid-epoch checkpoint: `checkpoint_every` in
    /// steps or time, Ctrl-C, a data error).
    pub step_in_epoch: u64,
    /// Mid-epoch: the summed training loss of those steps (over their samples) and the
    /// samples they saw, so that the resumed epoch's `train_loss` is the uninterrupted one.
    pub epoch_loss: f64,
    pub epoch_samples: u64,
    pub best_top1: Option<f64>,
    /// Validation top-1 of the last evaluation (the summary of a run resumed at its end).
    pub last_top1: Option<f64>,
    pub recipe_hash: String,
}

impl Position {
    /// Where this position is, for people: `the end of epoch 2` or `epoch 3, step 5`.
    pub fn describe(&self) -> String {
        match self.step_in_epoch {
            0 => format!("the end of epoch {}", self.epoch),
            s => format!("epoch {}, step {s}", self.epoch + 1),
        }
    }
}

/// A checkpoint's metadata: the format tag, where training stands, the optimizer's step
/// count, and for an imported checkpoint what it was converted from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    pub position: Position,
    /// Optimizer steps taken (AdamW's bias correction continues from it).
    pub steps: u64,
    /// `deitc import`'s description of the file the weights came from.
    pub imported_from: Option<String>,
}

/// The `format` metadata value of every deitc checkpoint.
pub const FORMAT: &str = "deitc-checkpoint-1";

impl Meta {
    /// The metadata of weights imported from `from`: step 0 of no recipe.
    pub fn imported(from: &str) -> Self {
        Meta {
            imported_from: Some(from.to_string()),
            ..Meta::default()
        }
    }

    /// The safetensors metadata map.
    pub fn to_map(&self) -> HashMap<String, String> {
        let p = &self.position;
        let mut m: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("epoch", p.epoch.to_string()),
            ("step_in_epoch", p.step_in_epoch.to_string()),
            ("epoch_loss", p.epoch_loss.to_string()),
            ("epoch_samples", p.epoch_samples.to_string()),
            ("steps", self.steps.to_string()),
            ("recipe_hash", p.recipe_hash.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(b) = p.best_top1 {
            m.insert("best_top1".into(), b.to_string());
        }
        if let Some(t) = p.last_top1 {
            m.insert("last_top1".into(), t.to_string());
        }
        if let Some(f) = &self.imported_from {
            m.insert("imported_from".into(), f.clone());
        }
        m
    }

    /// Reads the metadata of a deitc checkpoint.
    pub fn from_map(m: &BTreeMap<String, String>) -> Result<Self, CheckpointError> {
        if m.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(CheckpointError::NotACheckpoint);
        }
        let num = |k: &'static str| -> Result<u64, CheckpointError> {
            m.get(k)
                .and_then(|v| v.parse().ok())
                .ok_or(CheckpointError::BadMetadata { key: k })
        };
        Ok(Meta {
            position: Position {
                epoch: num("epoch")?,
                step_in_epoch: num("step_in_epoch")?,
                // Absent from checkpoints written before mid-epoch checkpoints existed.
                epoch_loss: m
                    .get("epoch_loss")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0),
                epoch_samples: m
                    .get("epoch_samples")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                best_top1: m.get("best_top1").and_then(|v| v.parse().ok()),
                last_top1: m.get("last_top1").and_then(|v| v.parse().ok()),
                recipe_hash: m.get("recipe_hash").cloned().unwrap_or_default(),
            },
            steps: num("steps")?,
            imported_from: m.get("imported_from").cloned(),
        })
    }
}

/// Why a checkpoint could not be written or read.
#[derive(Debug)]
pub enum CheckpointError {
    /// The file's `format` metadata is not [`FORMAT`].
    NotACheckpoint,
    /// A metadata key that is missing or not a number.
    BadMetadata { key: &'static str },
    /// The graph's tensors could not be collected or restored.
    Graph(GraphError),
    /// The file could not be read or parsed.
    File(String),
    /// The file could not be written (its temporary file is removed).
    Write(WriteFailure),
    /// A tensor holds a NaN or an infinity: the checkpoint is not written, so that the
    /// last one on disk stays a good one.
    NonFinite { tensor: String },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::NotACheckpoint => {
                f.write_str("not a deitc checkpoint (no `format` metadata)")
            }
            CheckpointError::BadMetadata { key } => {
                write!(f, "metadata `{key}` is missing or not a number")
            }
            CheckpointError::Graph(e) => write!(f, "{e}"),
            CheckpointError::File(e) => f.write_str(e),
            CheckpointError::Write(e) => e.fmt(f),
            CheckpointError::NonFinite { tensor } => {
                write!(f, "`{tensor}` holds a NaN or an infinity")
            }
        }
    }
}

pub fn save(path: &Path, graph: &dyn Graph, pos: &Position) -> Result<(), CheckpointError> {
    let meta = Meta {
        position: pos.clone(),
        steps: graph.steps(),
        imported_from: None,
    };
    let state = graph.state().map_err(CheckpointError::Graph)?;
    if let Some(t) = state.iter().find(|t| !t.data.iter().all(|v| v.is_finite())) {
        return Err(CheckpointError::NonFinite {
            tensor: t.name.clone(),
        });
    }
    let bytes = to_bytes(&state, meta.to_map()).map_err(CheckpointError::File)?;
    write_atomically_with(path, &bytes, super::fault::checkpoint_write)
        .map_err(|e| CheckpointError::Write(WriteFailure::new(path, Some(bytes.len()), e)))
}

/// Reads a checkpoint into `graph`; returns where training stood.
pub fn load(path: &Path, graph: &mut dyn Graph) -> Result<Position, CheckpointError> {
    let file = TensorFile::read(path).map_err(|e| CheckpointError::File(e.to_string()))?;
    let meta = Meta::from_map(file.metadata())?;
    graph
        .restore(&file, meta.steps)
        .map_err(CheckpointError::Graph)?;
    Ok(meta.position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_refuses_other_files() {
        let meta = Meta {
            position: Position {
                epoch: 3,
                step_in_epoch: 7,
                epoch_loss: 0.1 + 0.2,
                epoch_samples: 224,
                best_top1: Some(0.5),
                last_top1: Some(1.0 / 3.0),
                recipe_hash: "abc".into(),
            },
            steps: 99,
            imported_from: Some("timm safetensors".into()),
        };
        let map = |m: &Meta| -> BTreeMap<String, String> { m.to_map().into_iter().collect() };
        assert_eq!(Meta::from_map(&map(&meta)).ok(), Some(meta.clone()));
        let mut m = map(&meta);
        m.insert("format".into(), "pt".into());
        assert!(matches!(
            Meta::from_map(&m),
            Err(CheckpointError::NotACheckpoint)
        ));
        // A checkpoint written before mid-epoch positions: no partial epoch loss.
        let mut m = map(&meta);
        m.remove("epoch_loss");
        m.remove("epoch_samples");
        m.remove("last_top1");
        let old = Meta::from_map(&m).expect("old metadata");
        assert_eq!(
            (old.position.epoch_loss, old.position.epoch_samples),
            (0.0, 0)
        );
        let mut m = map(&meta);
        m.insert("steps".into(), "x".into());
        assert!(matches!(
            Meta::from_map(&m),
            Err(CheckpointError::BadMetadata { key: "steps" })
        ));
    }
}
