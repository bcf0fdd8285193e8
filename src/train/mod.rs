//! The training phase: everything above the statically shaped graph — schedule, optimizer,
//! losses, EMA, the loop — as ordinary runtime code over the IR.

pub mod catalogue;
pub mod graph;
pub mod losses;
pub mod optimizer;
pub mod schedule;
pub mod tensor_io;
