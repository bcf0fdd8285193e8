//! What the GPU's matrix products share: an operand kept for the backward in fp32 or as a
//! bf16 copy ([`Held`]), a device pointer with its cuBLAS element type ([`Ptr`]), and a
//! product op's two kept factors ([`Pair`]), which run a planned product's cuBLAS call
//! (`cublasGemmEx` or `cublasGemmStridedBatchedEx` on dfdx's handle) in the device's
//! [`Matmul`] mode, the output's gradient given when the plan reads it.

use cudarc::cublas::result::{gemm_ex, gemm_strided_batched_ex};
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
use cudarc::driver::{DevicePtr, DeviceSlice};
use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;
use std::ffi::c_void;
use std::sync::Arc;

use super::modules::{input, output_bf16, Loaded};
use super::{Buf, Matmul};
use deitc_kernels::plan::{self, Batched, Factor, Gemm};

/// `x` rounded to bf16 by the `f32_to_bf16` kernel.
pub(super) fn to_bf16<S>(dev: &Cuda, k: &Loaded, x: &S) -> Result<Buf<u16>, CudaError>
where
    S: DevicePtr<f32> + DeviceSlice<f32>,
{
    let mut y = super::alloc_bf16(dev, x.len())?;
    k.run(plan::f32_to_bf16(input(x), output_bf16(&mut y)))?;
    Ok(y)
}

/// A product operand the op keeps: a tensor's own fp32 buffer, an fp32 buffer of the op's
/// own (an intermediate no tensor holds), or a bf16 copy.
pub(super) enum Held {
    F32(Arc<CachableCudaSlice<f32>>),
    Own(Buf<f32>),
    Bf16(Buf<u16>),
}

impl Held {
    pub(super) fn new(
        dev: &Cuda,
        k: &Loaded,
        data: &Arc<CachableCudaSlice<f32>>,
        mode: Matmul,
    ) -> Result<Self, CudaError> {
        Ok(match mode {
            Matmul::F32 | Matmul::Tf32 => Held::F32(data.clone()),
            Matmul::Bf16 => Held::Bf16(to_bf16(dev, k, &**data)?),
        })
    }

    pub(super) fn ptr(&self) -> Ptr {
        match self {
            Held::F32(s) => Ptr::f32(&**s),
            Held::Own(s) => Ptr::f32(s),
            Held::Bf16(s) => Ptr::bf16(s),
        }
    }
}

/// A device pointer and the element type cuBLAS reads there.
#[derive(Clone, Copy)]
pub(super) struct Ptr {
    at: u64,
    len: usize,
    dtype: cudaDataType,
}

impl Ptr {
    pub(super) fn f32<S: DevicePtr<f32> + DeviceSlice<f32>>(s: &S) -> Ptr {
        Ptr {
            at: *s.device_ptr(),
            len: s.len(),
            dtype: cudaDataType::CUDA_R_32F,
        }
    }

    pub(super) fn bf16<S: DevicePtr<u16> + DeviceSlice<u16>>(s: &S) -> Ptr {
        Ptr {
            at: *s.device_ptr(),
            len: DeviceSlice::len(s),
            dtype: cudaDataType::CUDA_R_16BF,
        }
    }
}

/// The two factors a product op keeps for its backward (`Left` and `Right` of the plans),
/// and the device's matmul mode.
pub(super) struct Pair {
    pub(super) left: Held,
    pub(super) right: Held,
    pub(super) mode: Matmul,
}

impl Pair {
    /// The pointers `g` reads: the kept factors, and `dy` for the output's gradient.
    fn operands(&self, g: &Gemm, dy: Option<Ptr>) -> Result<(Ptr, Ptr), CudaError> {
        let pick = |f: Factor| match f {
            Factor::Left => Some(self.left.ptr()),
            Factor::Right => Some(self.right.ptr()),
            Factor::OutputGrad => dy,
        };
        pick(g.a).zip(pick(g.b)).ok_or_else(super::invalid)
    }

    /// The product `g` into `c`.
    pub(super) fn gemm<C>(
        &self,
        dev: &Cuda,
        g: &Gemm,
        dy: Option<Ptr>,
        c: &mut C,
    ) -> Result<(), CudaError>
    where
        C: DevicePtr<f32> + DeviceSlice<f32>,
    {
        gemm(dev, g, self.mode, self.operands(g, dy)?, Ptr::f32(&*c))
    }

    /// The batched product `p` into `c`.
    pub(super) fn gemm_batched<C>(
        &self,
        dev: &Cuda,
        p: &Batched,
        dy: Option<Ptr>,
        c: &mut C,
    ) -> Result<(), CudaError>
    where
        C: DevicePtr<f32> + DeviceSlice<f32>,
    {
        gemm_batched(dev, p, self.mode, self.operands(&p.g, dy)?, Ptr::f32(&*c))
    }
}

/// The elements a column-major operand of `ld × cols` spans.
fn span(ld: i32, cols: i32) -> usize {
    usize::try_from(ld).unwrap_or(0) * usize::try_from(cols).unwrap_or(0)
}

/// The elements `g`'s operands A, B and C span.
fn spans(g: &Gemm) -> (usize, usize, usize) {
    (
        span(g.lda, if g.transa { g.m } else { g.k }),
        span(g.ldb, if g.transb { g.k } else { g.n }),
        span(g.ldc, g.n),
    )
}

fn op(transposed: bool) -> cublasOperation_t {
    if transposed {
        cublasOperation_t::CUBLAS_OP_T
    } else {
        cublasOperation_t::CUBLAS_OP_N
    }
}

/// The arithmetic of `mode`: fp32, or TF32 tensor cores (bf16 operands accumulate in fp32).
fn compute(mode: Matmul) -> cublasComputeType_t {
    match mode {
        Matmul::Tf32 => cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        Matmul::F32 | Matmul::Bf16 => cublasComputeType_t::CUBLAS_COMPUTE_32F,
    }
}

/// `cublasGemmEx` of `g` on dfdx's handle (its default stream, like every kernel here).
fn gemm(dev: &Cuda, g: &Gemm, mode: Matmul, (a, b): (Ptr, Ptr), c: Ptr) -> Result<(), CudaError> {
    let (need_a, need_b, need_c) = spans(g);
    if a.len < need_a || b.len < need_b || c.len < need_c {
        return Err(super::invalid());
    }
    let (alpha, beta) = (1.0f32, g.beta);
    // SAFETY: the handle is dfdx's live cuBLAS handle on the default stream, where every
    // buffer here was written and stays alive until the product is queued (the op holds the
    // operands; `c` is borrowed mutably by the caller). Each operand spans at least the
    // `ld × cols` elements the column-major call reads (checked above), with the element
    // type given beside it; α and β are host f32 values, as COMPUTE_32F takes them.
    #[allow(unsafe_code)]
    unsafe {
        gemm_ex(
            *dev.cublas().handle(),
            op(g.transa),
            op(g.transb),
            g.m,
            g.n,
            g.k,
            (&alpha as *const f32).cast::<c_void>(),
            a.at as *const c_void,
            a.dtype,
            g.lda,
            b.at as *const c_void,
            b.dtype,
            g.ldb,
            (&beta as *const f32).cast::<c_void>(),
            c.at as *mut c_void,
            c.dtype,
            g.ldc,
            compute(mode),
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )?;
    }
    Ok(())
}

/// The elements the last matrix of a batch reaches: `(count − 1)·stride + span`.
fn reach(count: i32, stride: i64, span: usize) -> usize {
    let before = usize::try_from(count.max(1) - 1).unwrap_or(0);
    before
        .saturating_mul(usize::try_from(stride).unwrap_or(usize::MAX))
        .saturating_add(span)
}

/// `cublasGemmStridedBatchedEx` of `p` on dfdx's handle.
fn gemm_batched(
    dev: &Cuda,
    p: &Batched,
    mode: Matmul,
    (a, b): (Ptr, Ptr),
    c: Ptr,
) -> Result<(), CudaError> {
    let g = &p.g;
    let (span_a, span_b, span_c) = spans(g);
    if a.len < reach(p.count, p.stride_a, span_a)
        || b.len < reach(p.count, p.stride_b, span_b)
        || c.len < reach(p.count, p.stride_c, span_c)
    {
        return Err(super::invalid());
    }
    let (alpha, beta) = (1.0f32, g.beta);
    // SAFETY: as in `gemm`; each operand holds every matrix of the batch, the last one
    // starting `(count − 1)·stride` elements in and spanning `ld × cols` (checked above).
    #[allow(unsafe_code)]
    unsafe {
        gemm_strided_batched_ex(
            *dev.cublas().handle(),
            op(g.transa),
            op(g.transb),
            g.m,
            g.n,
            g.k,
            (&alpha as *const f32).cast::<c_void>(),
            a.at as *const c_void,
            a.dtype,
            g.lda,
            p.stride_a,
            b.at as *const c_void,
            b.dtype,
            g.ldb,
            p.stride_b,
            (&beta as *const f32).cast::<c_void>(),
            c.at as *mut c_void,
            c.dtype,
            g.ldc,
            p.stride_c,
            p.count,
            compute(mode),
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )?;
    }
    Ok(())
}
