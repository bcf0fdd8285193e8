//! [`RunError`]: why training, evaluation or a graph could not go on. Each failure of the
//! back end's phases below it (device, interop, data) is one variant wrapping that
//! phase's own error.

use crate::data::DataError;
use crate::device::DeviceError;
use crate::interop::InteropError;
use deitc_diag::{Code, Describe, Description};

/// A failure of `run`, `eval`, `bench` or of building a graph.
#[derive(Debug, Clone, PartialEq)]
pub enum RunError {
    /// The recipe's model shape has no graph in the registry (its shape, and the nearest
    /// shapes that have one).
    ShapeNotCompiled { shape: String, nearest: Vec<String> },
    /// A dataset could not be loaded.
    DataLoad { message: String },
    /// The loss became NaN or infinite.
    NonFinite { epoch: u64, step: u64, loss: f64 },
    /// A checkpoint could not be written or read.
    Checkpoint { path: String, message: String },
    /// The teacher cannot be built or loaded.
    Teacher { message: String },
    /// `--resume` found a run of a different recipe.
    ResumeMismatch { dir: String },
    /// Nothing to resume.
    NothingToResume { dir: String },
    /// A stage output whose stage has not finished a run of its current recipe.
    StageNotRun { message: String },
    /// The device cannot be opened.
    Device(DeviceError),
    /// `finetune.from` could not be loaded.
    Interop(InteropError),
    /// deitc itself is inconsistent (a bug to report).
    Internal { message: String },
}

impl From<DeviceError> for RunError {
    fn from(e: DeviceError) -> Self {
        RunError::Device(e)
    }
}

impl From<InteropError> for RunError {
    fn from(e: InteropError) -> Self {
        RunError::Interop(e)
    }
}

impl From<DataError> for RunError {
    fn from(e: DataError) -> Self {
        RunError::DataLoad {
            message: e.to_string(),
        }
    }
}

impl Describe for RunError {
    fn describe(&self) -> Description {
        use RunError::*;
        match self {
            ShapeNotCompiled { shape, nearest } => Description::shape_not_compiled(shape, nearest),
            DataLoad { message } => Description::new(Code::RunData, format!("cannot load the data: {message}"))
                .label("this source")
                .help("check the data path and its layout (docs/recipes.md)"),
            NonFinite { epoch, step, loss } => Description::new(
                Code::RunNonFinite,
                format!("the loss became {loss} at epoch {epoch}, step {step}"),
            )
            .help("check `optimizer.lr`, `optimizer.clip_grad` and `data.mean`/`data.std`; checkpoints already written are kept"),
            Checkpoint { path, message } => Description::new(
                Code::RunCheckpoint,
                format!("checkpoint `{path}`: {message}"),
            )
            .help("checkpoints are written by `deitc run`; pass one of its `.safetensors` files"),
            Teacher { message } => Description::new(Code::RunTeacher, format!("teacher: {message}"))
                .label("this teacher")
                .help("a teacher is `arch = regnety_160` with a timm `state_dict` of RegNetY-16GF (safetensors or .pth), or a deitc checkpoint of a compiled shape (`arch = deit` or `convnet`) with the `recipe` that trained it"),
            ResumeMismatch { dir } => Description::new(
                Code::RunResumeMismatch,
                format!("`{dir}` was trained with a different recipe"),
            )
            .help("run without `--resume` to start a new run, or restore the recipe"),
            NothingToResume { dir } => Description::new(
                Code::RunNothingToResume,
                format!("no checkpoint to resume under `{dir}`"),
            )
            .help("run without `--resume` to start a new run"),
            StageNotRun { message } => Description::new(Code::StageNotRun, message.clone())
                .help("`deitc run` on the pipeline runs every stage that is not up to date, in order"),
            Device(e) => e.describe(),
            Interop(e) => e.describe(),
            Internal { message } => Description::internal(message),
        }
    }
}
