//! Shared CPU helpers of the fused kernels ([`crate::fused`]) and the optimizer's host path:
//! `gemm` (bounds-checked matrix products on host slices), `math` (vectorised `exp`/`erf`,
//! fixed-lane sums, [`simd`]'s run-time dispatch to the widest vector instructions) and
//! `buffers` (host buffers, parallel zeroing and adding, and moving dfdx `Cpu` tensors and
//! gradients to and from `Vec<f32>`).
//!
//! Nothing here knows a model or a recipe: these are slices, tensors and threads.

#[macro_use]
mod buffers;
pub(crate) mod gemm;
mod math;

pub(crate) use buffers::{
    add_into, copied, device_tensor, host, host_grad, zeros, CHUNK_ELEMS, CHUNK_ROWS,
};
pub(crate) use math::{dot, erf, exp, simd, sum, Kernel};
