//! The CPU simulator: every kernel of [`crate::source`] compiled as C++ under
//! `sim/cuda_sim.h` (a block's threads are fibers, `__syncthreads` a barrier, warp
//! shuffles an exchange through memory, bf16 rounded exactly), launched by name like
//! `cuLaunchKernel`. Slow, exact, and for tests: each safe wrapper below checks every
//! buffer's length against the sizes it passes, then launches with the configuration of
//! [`crate::launch`]. One file per kernel family, beside its `cuda/*.cu`.

mod attention;
mod cross_entropy;
mod gelu;
mod layer_norm;
mod linear;
mod optimizer;
mod regularization;
mod residual;
mod softmax;

pub use attention::*;
pub use linear::*;
pub use residual::*;

pub use cross_entropy::{argmax_one_hot, loss_grad_accumulate, loss_sum, soft_ce, soft_kd, Grad};
pub use gelu::{
    bias_gelu_backward, bias_gelu_backward_bf16, bias_gelu_forward, bias_gelu_forward_bf16,
    gelu_backward_accumulate, gelu_backward_bf16, gelu_forward_keep_bf16,
};
pub use layer_norm::{
    layer_norm_backward, layer_norm_forward, layer_norm_forward_bf16, residual_layer_norm_backward,
    residual_layer_norm_forward, residual_layer_norm_forward_bf16, RowStats,
};
pub use optimizer::{
    adamw_multi, adamw_step, ema_multi, ema_update, grad_norm, grad_sq_sum_multi,
    grad_sq_sum_partials, sgd_step, GradNorm, HostTensor,
};
pub use regularization::{drop_path_scales, dropout_backward, dropout_forward};
pub use softmax::{
    softmax_backward, softmax_backward_accumulate, softmax_backward_bf16,
    softmax_backward_bf16_out, softmax_forward, softmax_forward_bf16,
};

use crate::launch::LaunchConfig;
use crate::plan::{Buffer, Launch, Param, PlanError};
use std::ffi::{c_char, c_int, c_uint, c_void, CString};

/// The launch record `sim/launch.cpp` reads.
#[repr(C)]
struct LaunchRecord {
    grid: [c_uint; 3],
    block: [c_uint; 3],
    shared_bytes: c_uint,
}

extern "C" {
    fn deitc_sim_launch(
        name: *const c_char,
        launch: *const LaunchRecord,
        params: *mut *mut c_void,
        count: c_uint,
    ) -> c_int;
}

/// Why a simulated launch did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// A buffer shorter (or longer) than the sizes passed with it.
    Length {
        what: &'static str,
        want: usize,
        got: usize,
    },
    /// A size that does not fit the kernel's `int`.
    TooLarge { what: &'static str, value: usize },
    /// The simulator has no kernel of that name, or another parameter count.
    Launch { kernel: &'static str, code: i32 },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Length { what, want, got } => {
                write!(f, "`{what}` has {got} values, the launch needs {want}")
            }
            SimError::TooLarge { what, value } => write!(f, "`{what}` = {value} exceeds i32"),
            SimError::Launch { kernel, code } => {
                write!(f, "the simulator cannot launch `{kernel}` (code {code})")
            }
        }
    }
}

impl std::error::Error for SimError {}

impl From<PlanError> for SimError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Length { what, want, got } => SimError::Length { what, want, got },
            PlanError::TooLarge { what, value } => SimError::TooLarge { what, value },
        }
    }
}

/// One kernel parameter.
pub enum Arg<'a> {
    /// A device pointer the kernel reads.
    In(&'a [f32]),
    /// A device pointer the kernel writes (and may read).
    Out(&'a mut [f32]),
    /// A device pointer to bf16 values (their bits) the kernel reads.
    InBf16(&'a [u16]),
    /// A device pointer to bytes the kernel reads (a table of structs).
    InBytes(&'a [u8]),
    /// A device pointer to bf16 values (their bits) the kernel writes.
    OutBf16(&'a mut [u16]),
    /// A null pointer (an optional input left out).
    Null,
    I32(i32),
    F32(f32),
    U64(u64),
    F64(f64),
}

/// A buffer argument's length in elements (scalars and null count as 0), so that a plan can
/// take [`Arg`]s as its buffers when a kernel mixes `f32` and bf16 buffers ([`run_args`]).
impl Buffer for Arg<'_> {
    fn len(&self) -> usize {
        match self {
            Arg::In(s) => s.len(),
            Arg::Out(s) => s.len(),
            Arg::InBf16(s) => s.len(),
            Arg::InBytes(s) => s.len(),
            Arg::OutBf16(s) => s.len(),
            Arg::Null | Arg::I32(_) | Arg::F32(_) | Arg::U64(_) | Arg::F64(_) => 0,
        }
    }
}

/// Launches `kernel` with `params`.
///
/// # Safety
/// Every pointer parameter must be valid for every index the kernel touches given the
/// scalar parameters passed with it: the safe wrappers below check that before calling.
#[allow(unsafe_code)]
unsafe fn launch_raw(
    kernel: &'static str,
    cfg: &LaunchConfig,
    params: &mut [Arg<'_>],
) -> Result<(), SimError> {
    let name = CString::new(kernel).map_err(|_| SimError::Launch { kernel, code: 1 })?;
    // The values the kernel reads through `params` pointers: one slot per parameter, kept
    // alive (and unmoved) until the launch returns.
    let mut values: Vec<[u8; 8]> = params
        .iter_mut()
        .map(|a| {
            let mut slot = [0u8; 8];
            match a {
                Arg::In(s) => slot.copy_from_slice(&(s.as_ptr() as usize).to_ne_bytes()),
                Arg::Out(s) => slot.copy_from_slice(&(s.as_mut_ptr() as usize).to_ne_bytes()),
                Arg::InBf16(s) => slot.copy_from_slice(&(s.as_ptr() as usize).to_ne_bytes()),
                Arg::InBytes(s) => slot.copy_from_slice(&(s.as_ptr() as usize).to_ne_bytes()),
                Arg::OutBf16(s) => slot.copy_from_slice(&(s.as_mut_ptr() as usize).to_ne_bytes()),
                Arg::Null => {}
                Arg::I32(v) => slot[..4].copy_from_slice(&v.to_ne_bytes()),
                Arg::F32(v) => slot[..4].copy_from_slice(&v.to_ne_bytes()),
                Arg::U64(v) => slot.copy_from_slice(&v.to_ne_bytes()),
                Arg::F64(v) => slot.copy_from_slice(&v.to_ne_bytes()),
            }
            slot
        })
        .collect();
    let mut pointers: Vec<*mut c_void> = values
        .iter_mut()
        .map(|v| v.as_mut_ptr().cast::<c_void>())
        .collect();
    let l = LaunchRecord {
        grid: [cfg.grid.0, cfg.grid.1, cfg.grid.2],
        block: [cfg.block.0, cfg.block.1, cfg.block.2],
        shared_bytes: cfg.shared_bytes,
    };
    let count = c_uint::try_from(pointers.len()).unwrap_or(c_uint::MAX);
    // SAFETY: `name` is a NUL-terminated string, `l` a live `Launch`, and `pointers` holds
    // `count` pointers to 8-byte slots, each holding the parameter of the kernel's type at
    // that position (pointer, i32 or f32, little-endian in the slot's first bytes). The
    // caller guarantees the buffers behind pointer parameters cover what the kernel touches.
    let code = unsafe { deitc_sim_launch(name.as_ptr(), &l, pointers.as_mut_ptr(), count) };
    if code == 0 {
        Ok(())
    } else {
        Err(SimError::Launch { kernel, code })
    }
}

pub(crate) fn int(what: &'static str, v: usize) -> Result<i32, SimError> {
    i32::try_from(v).map_err(|_| SimError::TooLarge { what, value: v })
}

/// Runs a planned launch ([`crate::plan`]: its buffers are checked against its sizes).
pub(crate) fn run(plan: Result<Launch<&[f32], &mut [f32]>, PlanError>) -> Result<(), SimError> {
    let plan = plan?;
    let mut params: Vec<Arg<'_>> = plan
        .params
        .into_iter()
        .map(|p| match p {
            Param::In(b) => Arg::In(b),
            Param::Out(b) => Arg::Out(b),
            Param::Null => Arg::Null,
            Param::I32(v) => Arg::I32(v),
            Param::F32(v) => Arg::F32(v),
            Param::U64(v) => Arg::U64(v),
            Param::F64(v) => Arg::F64(v),
        })
        .collect();
    checked(plan.kernel, &plan.config, &mut params)
}

/// Runs a planned launch whose buffers are [`Arg`]s (`f32` and bf16 buffers mixed), checked
/// by the plan against its sizes like [`run`]'s.
pub(crate) fn run_args(plan: Result<Launch<Arg<'_>, Arg<'_>>, PlanError>) -> Result<(), SimError> {
    let plan = plan?;
    let mut params: Vec<Arg<'_>> = plan
        .params
        .into_iter()
        .map(|p| match p {
            Param::In(b) | Param::Out(b) => b,
            Param::Null => Arg::Null,
            Param::I32(v) => Arg::I32(v),
            Param::F32(v) => Arg::F32(v),
            Param::U64(v) => Arg::U64(v),
            Param::F64(v) => Arg::F64(v),
        })
        .collect();
    checked(plan.kernel, &plan.config, &mut params)
}

/// Runs a launch whose buffers the caller has checked.
#[allow(unsafe_code)]
pub(crate) fn checked(
    kernel: &'static str,
    cfg: &LaunchConfig,
    params: &mut [Arg<'_>],
) -> Result<(), SimError> {
    // SAFETY: every caller checks each buffer's length against the sizes it passes (`len`),
    // and each kernel touches only indices below those sizes.
    unsafe { launch_raw(kernel, cfg, params) }
}
