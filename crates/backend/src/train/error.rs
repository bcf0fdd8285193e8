//! [`RunError`]: why training, evaluation or a graph could not go on. Each failure of the
//! back end's phases below it (device, interop, data) is one variant wrapping that
//! phase's own error.

use super::checkpoint::CheckpointError;
use super::graph::GraphError;
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
    /// The loss (or, with `tensor`, a weight about to be checkpointed) became NaN or
    /// infinite at `epoch` (1-based) and `step` (within it); `saved` is the last checkpoint,
    /// which is kept.
    NonFinite {
        epoch: u64,
        step: u64,
        loss: f64,
        tensor: Option<String>,
        saved: Option<Saved>,
    },
    /// The gradients of the step at `epoch` (1-based) and `step` held a NaN or an infinity
    /// (their global norm is `norm`): the step was not applied; `saved` is the last
    /// checkpoint, which is kept.
    NonFiniteGradient {
        epoch: u64,
        step: u64,
        norm: f64,
        saved: Option<Saved>,
    },
    /// A checkpoint could not be read.
    Checkpoint { path: String, message: String },
    /// A file or folder of the run directory could not be written (a partial file is
    /// removed): `bytes` is what was being written, when a file's content was.
    Write {
        path: String,
        kind: WriteKind,
        bytes: Option<u64>,
        message: String,
    },
    /// Another live process is writing the run directory (its PID, when known).
    Locked { dir: String, pid: Option<u32> },
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

impl RunError {
    /// Weights of the checkpoint `path` that could not be read or loaded into a graph
    /// (`eval`, `--resume`): NaN or infinite values are `deit::interop::non_finite`,
    /// naming the tensor; anything else is `deit::run::checkpoint`.
    pub fn loading(path: &str, e: GraphError) -> RunError {
        match e {
            GraphError::Weights(tensor) => RunError::Interop(InteropError::NonFinite {
                path: path.to_string(),
                tensor,
            }),
            e => RunError::Checkpoint {
                path: path.to_string(),
                message: e.to_string(),
            },
        }
    }

    /// A checkpoint of a run that could not be read back (`--resume`), as [`Self::loading`].
    pub fn resuming(path: &str, e: CheckpointError) -> RunError {
        match e {
            CheckpointError::Graph(e) => RunError::loading(path, e),
            e => RunError::Checkpoint {
                path: path.to_string(),
                message: e.to_string(),
            },
        }
    }
}

/// Where the last checkpoint of a run is and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub path: String,
    /// `the end of epoch 2`, `epoch 3, step 5` ([`super::checkpoint::Position::describe`]).
    pub at: String,
    /// Optimizer steps it holds.
    pub steps: u64,
}

/// Why a write failed, as far as the help line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// No space left on the device (or the quota is used up).
    DiskFull,
    /// Permission denied, or a read-only filesystem.
    NotWritable,
    /// A part of the path is a file, not a folder (`train.output = "/dev/null"`).
    NotADirectory,
    Other,
}

impl WriteKind {
    /// The kind of `e`, an error writing `path`.
    pub fn of(path: &std::path::Path, e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::StorageFull | K::QuotaExceeded => WriteKind::DiskFull,
            K::PermissionDenied | K::ReadOnlyFilesystem => WriteKind::NotWritable,
            K::NotADirectory => WriteKind::NotADirectory,
            // `create_dir_all` on a path that is a file.
            K::AlreadyExists if path.exists() && !path.is_dir() => WriteKind::NotADirectory,
            _ => WriteKind::Other,
        }
    }
}

impl From<super::tensor_io::WriteFailure> for RunError {
    fn from(f: super::tensor_io::WriteFailure) -> Self {
        RunError::Write {
            path: f.path.display().to_string(),
            kind: WriteKind::of(&f.path, &f.error),
            bytes: f.bytes,
            message: f.error.to_string(),
        }
    }
}

/// `123456789` → `117.7 MiB`.
fn human_bytes(n: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{n} bytes"),
        _ => format!("{v:.1} {}", units[u]),
    }
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

/// What a run that stopped on a NaN or an infinity should try, and the checkpoint it kept.
fn non_finite_help(saved: &Option<Saved>) -> String {
    format!(
        "check `optimizer.lr`, `optimizer.clip_grad` and `data.mean`/`data.std`; {}",
        match saved {
            Some(s) => format!(
                "the last good checkpoint is kept: `{}` ({}, {} optimizer steps)",
                s.path, s.at, s.steps
            ),
            None => "no checkpoint had been written yet (`train.checkpoint_every`)".into(),
        }
    )
}

impl Describe for RunError {
    fn describe(&self) -> Description {
        use RunError::*;
        match self {
            ShapeNotCompiled { shape, nearest } => Description::shape_not_compiled(shape, nearest),
            DataLoad { message } => Description::new(Code::RunData, format!("cannot load the data: {message}"))
                .label("this source")
                .help("check the data path and its layout (docs/recipes.md)"),
            NonFinite { epoch, step, loss, tensor, saved } => Description::new(
                Code::RunNonFinite,
                match tensor {
                    None => format!("the loss became {loss} at epoch {epoch}, step {step}"),
                    Some(t) => format!("the weights became non-finite (`{t}`) at epoch {epoch}, step {step}"),
                },
            )
            .help(non_finite_help(saved)),
            NonFiniteGradient { epoch, step, norm, saved } => Description::new(
                Code::RunNonFinite,
                format!("the gradients became non-finite (norm {norm}) at epoch {epoch}, step {step}; the step was not applied"),
            )
            .help(non_finite_help(saved)),
            Checkpoint { path, message } => Description::new(
                Code::RunCheckpoint,
                format!("checkpoint `{path}`: {message}"),
            )
            .help("checkpoints are written by `deitc run`; pass one of its `.safetensors` files"),
            Write { path, kind, bytes, message } => Description::new(
                Code::RunWrite,
                format!("cannot write `{path}`: {message}"),
            )
            .label("the run's output")
            .help(match kind {
                WriteKind::DiskFull => format!(
                    "the disk is full{}: free space on that filesystem (or set `train.output` to another one), then `deitc run --resume` goes on from the last checkpoint; the partial file was removed",
                    bytes.map_or(String::new(), |b| format!(
                        " (writing it needed {b} bytes, {})",
                        human_bytes(b)
                    ))
                ),
                WriteKind::NotWritable => "the path is not writable (permission denied or a read-only filesystem): set `train.output` to a folder you can write, or change its permissions".into(),
                WriteKind::NotADirectory => "a part of the path is a file, not a folder: `train.output` must name a folder (runs go in `<train.output>/<recipe>/NNN/`)".into(),
                WriteKind::Other => "check that `train.output` names a folder that can be created and written".into(),
            }),
            Locked { dir, pid } => Description::new(
                Code::RunLocked,
                format!(
                    "`{dir}` is being written by another deitc process ({})",
                    pid.map_or("PID unknown".into(), |p| format!("PID {p}"))
                ),
            )
            .help("one process writes a run directory at a time: wait for that run to end (or stop it; its lock goes with it), then `--resume`; `deitc run` without `--resume` starts a new directory"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::tensor_io::WriteFailure;
    use std::io::{Error, ErrorKind};
    use std::path::Path;

    fn write(kind: ErrorKind, bytes: Option<usize>) -> Description {
        let f = WriteFailure::new(
            Path::new("runs/tiny/001/checkpoint.safetensors"),
            bytes,
            Error::new(kind, "os says no"),
        );
        RunError::from(f).describe()
    }

    #[test]
    fn write_failures_have_their_own_code_and_a_help_line_that_fits() {
        let full = write(ErrorKind::StorageFull, Some(3 * 1024 * 1024 + 7));
        assert_eq!(full.code, Code::RunWrite);
        assert_eq!(
            full.message,
            "cannot write `runs/tiny/001/checkpoint.safetensors`: os says no"
        );
        let help = full.help.unwrap_or_default();
        assert!(
            help.contains("disk is full") && help.contains("3145735 bytes, 3.0 MiB"),
            "{help}"
        );
        for (kind, words) in [
            (ErrorKind::PermissionDenied, "not writable"),
            (ErrorKind::ReadOnlyFilesystem, "not writable"),
            (ErrorKind::NotADirectory, "not a folder"),
            (ErrorKind::Other, "can be created and written"),
        ] {
            let d = write(kind, None);
            assert_eq!(d.code, Code::RunWrite);
            let help = d.help.unwrap_or_default();
            assert!(help.contains(words), "{kind:?}: {help}");
            assert!(!help.contains(".safetensors` files"), "{help}");
        }
    }

    #[test]
    fn a_non_finite_loss_says_where_the_last_good_checkpoint_is() {
        let d = RunError::NonFinite {
            epoch: 2,
            step: 3,
            loss: f64::NAN,
            tensor: None,
            saved: Some(Saved {
                path: "runs/tiny/001/checkpoint.safetensors".into(),
                at: "epoch 2, step 2".into(),
                steps: 8,
            }),
        }
        .describe();
        assert_eq!(d.message, "the loss became NaN at epoch 2, step 3");
        let g = RunError::NonFiniteGradient {
            epoch: 2,
            step: 3,
            norm: f64::INFINITY,
            saved: None,
        }
        .describe();
        assert_eq!(g.code, Code::RunNonFinite);
        assert_eq!(
            g.message,
            "the gradients became non-finite (norm inf) at epoch 2, step 3; the step was not applied"
        );
        assert!(g
            .help
            .unwrap_or_default()
            .contains("no checkpoint had been written yet"));
        assert!(d.help.unwrap_or_default().ends_with(
            "the last good checkpoint is kept: `runs/tiny/001/checkpoint.safetensors` (epoch 2, step 2, 8 optimizer steps)"
        ));
        let d = RunError::Locked {
            dir: "runs/tiny/001".into(),
            pid: Some(42),
        }
        .describe();
        assert_eq!(d.code, Code::RunLocked);
        assert!(d.message.contains("(PID 42)"), "{}", d.message);
        assert_eq!(human_bytes(512), "512 bytes");
    }
}
