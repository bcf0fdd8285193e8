//! deitc: a checked, declarative language for DeiT training recipes, and the trainer
//! behind it.
//!
//! This crate is the command line: it joins the language ([`deitc_lang`]: source, syntax,
//! check, diag, down to the [`ir`]) and the back end ([`deitc_backend`]: model, data, train,
//! interop), which know nothing of each other beyond the IR. `generated` builds and runs a
//! graph for a model shape this binary does not have. [`error::Error`] composes every
//! phase's error enum into the one kind of diagnostic the commands render.

pub mod cli;
pub mod error;
pub mod generated;
pub mod memory;
pub mod report;

pub use deitc_backend::{data, device, interop, model, train};
pub use deitc_backend::{register_convnet, register_deit};
pub use deitc_ir as ir;
pub use deitc_lang::{check, diag, source, syntax};

/// dfdx, for the code a generated graph expands ([`register_deit!`]).
#[doc(hidden)]
pub use dfdx;
