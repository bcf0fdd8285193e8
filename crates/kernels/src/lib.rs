//! deitc's CUDA kernels, as data the rest of deitc can use without a GPU:
//!
//! - [`source`]: the CUDA C source of every kernel family (`cuda/*.cu`, sharing
//!   `cuda/common.cuh`), which the CUDA device compiles with NVRTC at run time;
//! - [`launch`]: the launch configuration of each kernel (grid, block, shared memory),
//!   computed by the one function both the GPU and the simulator use;
//! - [`plan`]: each `f32` launch as data (kernel, configuration, parameters in order), built
//!   after checking every buffer's length, generic over the buffer handles, so the GPU and
//!   the simulator launch the same plan;
//! - [`sim`] (feature `sim`): the same sources compiled as C++ under a small CUDA-on-CPU
//!   header (`sim/cuda_sim.h`) and launched like `cuLaunchKernel`, so `cargo test` checks
//!   every kernel's numerics against the CPU kernels on machines without a GPU.
//!
//! The crate depends on nothing of deitc, and on nothing at all without `sim`.

pub mod launch;
pub mod plan;
pub mod source;

#[cfg(feature = "sim")]
pub mod sim;

pub use launch::LaunchConfig;
