//! Host buffers for the fused CPU kernels: zeroed and copied in parallel, added element-wise,
//! and moved to and from dfdx `Cpu` tensors and gradients without walking strides.
//!
//! Reductions never depend on rayon's scheduling: buffers split into fixed chunks, and every
//! chunk's work is the same for any number of threads.

use dfdx::prelude::*;
use rayon::prelude::*;

/// Rows per parallel task (and per partial sum of the γ/β and bias gradients).
pub(crate) const CHUNK_ROWS: usize = 32;
/// Elements per parallel task of the element-wise kernels.
pub(crate) const CHUNK_ELEMS: usize = 1 << 14;

/// A gradient buffer of the CPU as the `Vec<f32>` it holds.
pub(crate) fn host_grad(v: &mut <Cpu as Storage<f32>>::Vec) -> &mut Vec<f32> {
    v
}

/// A row-major tensor's values, by one `memcpy` of its buffer.
///
/// Every caller passes a tensor that is row-major with a buffer of exactly its size: the
/// output of `try_contiguous` (which copies anything strided or broadcast) or a parameter.
/// dfdx's `as_vec` would instead walk the strides element by element, which cost ≈ 7% of a
/// DeiT-Ti training step. Debug builds (the test suite) check the copy against `as_vec`.
pub(crate) fn host<S: Shape, T>(x: &Tensor<S, f32, Cpu, T>) -> Vec<f32> {
    let mut v = zeros(x.shape().num_elements());
    x.copy_into(&mut v);
    debug_assert!(
        v.iter()
            .map(|a| a.to_bits())
            .eq(x.as_vec().iter().map(|a| a.to_bits())),
        "cpu::host on a tensor that is not row-major"
    );
    v
}

/// A new (contiguous) CPU tensor of `shape` holding `data`.
pub(crate) fn device_tensor<S: Shape>(
    dev: &Cpu,
    data: Vec<f32>,
    shape: S,
) -> Result<Tensor<S, f32, Cpu>, CpuError> {
    dev.try_tensor_from_vec(data, shape)
}

/// `len` zeros. Large buffers are written by every thread (a plain `vec![0.0; len]` is one
/// thread's `memset` whenever the allocator reuses memory, with the others idle).
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    if len < 4 * CHUNK_ELEMS {
        return vec![0.0; len];
    }
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(0.0f32, len));
    v
}

/// A copy of `v` (large slices copied by every thread).
pub(crate) fn copied(v: &[f32]) -> Vec<f32> {
    if v.len() < 4 * CHUNK_ELEMS {
        return v.to_vec();
    }
    let mut out = Vec::with_capacity(v.len());
    out.par_extend(v.par_iter().copied());
    out
}

/// `acc += v` element-wise (large slices by every thread).
pub(crate) fn add_into(acc: &mut [f32], v: &[f32]) {
    if acc.len() >= 4 * CHUNK_ELEMS {
        acc.par_chunks_mut(CHUNK_ELEMS)
            .zip(v.par_chunks(CHUNK_ELEMS))
            .for_each(|(a, v)| add_into(a, v));
        return;
    }
    for (a, &b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

/// `&mut Vec<f32>` of the gradient of `$t` (a ghost or tensor), allocated if absent.
macro_rules! grad_mut {
    ($grads:ident, $t:expr) => {
        $crate::cpu::host_grad($grads.get_or_alloc_mut(&$t)?)
    };
}

/// Runs `$body` with `$g` bound to the output gradient (a `Vec<f32>` taken out of
/// `$grads` without copying, and put back afterwards).
macro_rules! with_out_grad {
    ($grads:ident, $out:expr, |$g:ident| $body:block) => {{
        let $g = std::mem::take(grad_mut!($grads, $out));
        let result = $body;
        *grad_mut!($grads, $out) = $g;
        result
    }};
}
