//! deitc's back end: everything that runs a typed recipe. `model` (statically shaped dfdx
//! graphs), `data` (datasets, augmentations, the deterministic loader), `train` (the graph
//! registry, losses, optimizer, the loop, checkpoints) and `interop` (timm and PyTorch
//! checkpoints in and out). `device` is the seam between the model and the hardware: the
//! [`device::Backend`] trait, whose kernel methods `Cpu` runs as the fused kernels of
//! `fused` (built on the shared CPU helpers of `cpu`).
//!
//! Its only input from the language is the [`ir`]: it never parses or checks a recipe. Each
//! phase reports its own error enum ([`train::RunError`], [`interop::InteropError`],
//! [`device::DeviceError`], [`data::DataError`]), described with `deitc-diag`'s codes.

#[macro_use]
mod cpu;
pub mod data;
pub mod device;
mod fused;
pub mod interop;
pub mod io_limits;
pub mod model;
pub mod train;

pub use deitc_diag as diag;
pub use deitc_ir as ir;

/// dfdx, for the code a generated graph expands ([`register_deit!`]).
#[doc(hidden)]
pub use dfdx;
