//! The training phase: everything above the statically shaped graph — schedule, optimizer,
//! losses, EMA, the loop — as ordinary runtime code over the IR.

pub mod optimizer;
pub mod schedule;
