//! deitc's back end: everything that runs a typed recipe. `model` (statically shaped dfdx
//! graphs), `data` (datasets, augmentations, the deterministic loader), `train` (the graph
//! registry, losses, optimizer, the loop, checkpoints) and `interop` (timm and PyTorch
//! checkpoints in and out).
//!
//! Its only input from the language is the [`ir`]: it never parses or checks a recipe.

pub mod data;
pub mod interop;
pub mod model;
pub mod train;

pub use deitc_ir as ir;
pub use deitc_lang::diag;

/// dfdx, for the code a generated graph expands ([`register_deit!`]).
#[doc(hidden)]
pub use dfdx;
