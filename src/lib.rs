//! deitc: a checked, declarative language for DeiT training recipes.
//!
//! The pipeline, one module per phase:
//! `source` (files and spans) → `syntax` (pest → AST) → `check` (inheritance, overrides,
//! evaluation, schema and rule validation) → `ir` (the typed, resolved `Recipe`) → later
//! phases consume only the IR. `diag` holds the diagnostics every phase reports, `interop`
//! reads and writes timm checkpoints, and `cli` the subcommands.

pub mod check;
pub mod cli;
pub mod data;
pub mod diag;
pub mod interop;
pub mod ir;
pub mod memory;
pub mod model;
pub mod source;
pub mod syntax;
pub mod train;

/// dfdx, for the code a generated graph expands ([`register_deit!`]).
#[doc(hidden)]
pub use dfdx;
