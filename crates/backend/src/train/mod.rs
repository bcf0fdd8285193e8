//! The training phase: everything above the statically shaped graph — schedule, optimizer,
//! losses, EMA, the loop — as ordinary runtime code over the IR.

pub mod catalogue;
pub mod checkpoint;
mod error;
pub mod fault;
pub mod graph;
pub mod losses;
pub mod metrics;
pub mod net;
pub mod optimizer;
pub mod regnet_teacher;
pub mod run;
pub mod run_dir;
pub mod schedule;
pub mod stages;
pub mod teacher;
pub mod tensor_io;
pub mod tensorboard;

pub use error::{RunError, Saved, WriteKind};
