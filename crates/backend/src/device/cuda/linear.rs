//! `Linear` on tokens on the GPU as one op: the bias rows (`cuda/linear.cu`), then one cuBLAS
//! product over all `B·T` rows; the backward is two products and a column sum of the output's
//! gradient, all added into the gradients (`deitc_kernels::plan::gemm_*` are the products'
//! arguments, checked on the CPU against the row-major products they stand for).
//!
//! `train.precision` picks the products' operands and arithmetic ([`Matmul`]): fp32 (strict),
//! tf32 (fp32 operands, TF32 tensor cores), or bf16 operands with fp32 accumulation and fp32
//! outputs. Under bf16 the op keeps the bf16 copies of `x` and `W` for the backward instead
//! of the fp32 ones, so the saved activation takes half the memory.

use cudarc::cublas::result::gemm_ex;
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
use cudarc::driver::{CudaSlice, DevicePtr};
use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use dfdx::tensor::CachableCudaSlice;
use std::ffi::c_void;
use std::sync::Arc;

use super::modules::{input, loaded, output, output_bf16, Loaded};
use super::{alloc, matmul, wrap, Matmul};
use crate::device::Rows;
use deitc_kernels::plan::{self, Gemm, Operand};

/// `lin` on `x (B, T, I)` → `(B, T, O)`: `x·Wᵀ + b` over the `B·T` rows.
#[allow(clippy::type_complexity)]
pub(super) fn linear<B: Dim, Tok: Dim, const I: usize, const O: usize, T: Tape<f32, Cuda>>(
    lin: &Linear<I, O, f32, Cuda>,
    x: Rows<B, Tok, I, f32, Cuda, T>,
) -> Result<Rows<B, Tok, O, f32, Cuda, T>, CudaError> {
    // The product reads rows of I contiguous values.
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let dev = x.device().clone();
    let k = loaded(&dev).map_err(|_| super::not_loaded())?;
    let (b, t, _) = *x.shape();
    let rows = b.size() * t.size();
    let mode = matmul(&dev);
    let mut y = alloc(&dev, rows * O)?; // (B·T, O)
    k.run(plan::bias_rows(input(&**lin.bias.data()), output(&mut y)))?;
    let saved = Saved {
        x: Held::new(&dev, &k, x.data(), mode)?,
        w: Held::new(&dev, &k, lin.weight.data(), mode)?,
        mode,
    };
    let g = plan::gemm_forward(rows, I, O).map_err(|_| super::invalid())?;
    saved.product(&dev, g, None, &mut y)?;
    let out = wrap(&dev, (b, t, Const::<O>), y)?;
    if T::OWNS_TAPE {
        let (x_g, out_g) = (x.ghost(), out.ghost());
        let (w_g, b_g) = (lin.weight.ghost(), lin.bias.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_g)?;
            grads.try_alloc_for(&w_g)?;
            grads.try_alloc_for(&b_g)?;
            grads.try_alloc_for(&out_g)?;
            let parts_len = plan::part_len(rows, O);
            let mut parts = alloc(&dev, parts_len)?; // (parts, O)
            let dy_bf16 = {
                let dy = grads.get_ref(&out_g);
                k.run(plan::column_sum_partial(input(dy), output(&mut parts), O))?;
                match mode {
                    Matmul::Bf16 => Some(to_bf16(&dev, &k, dy)?),
                    Matmul::F32 | Matmul::Tf32 => None,
                }
            };
            k.run(plan::column_sum_accumulate(
                input(&parts),
                output(grads.get_mut(&b_g)),
            ))?;
            let g = plan::gemm_backward_input(rows, I, O).map_err(|_| super::invalid())?;
            {
                let (dx, dy) = grads.mut_and_ref(&x_g, &out_g);
                let dy = dy_bf16.as_ref().map_or(Ptr::f32(dy), Ptr::bf16);
                saved.product(&dev, g, Some(dy), dx)?;
            }
            let g = plan::gemm_backward_weight(rows, I, O).map_err(|_| super::invalid())?;
            {
                let (dw, dy) = grads.mut_and_ref(&w_g, &out_g);
                let dy = dy_bf16.as_ref().map_or(Ptr::f32(dy), Ptr::bf16);
                saved.product(&dev, g, Some(dy), dw)?;
            }
            grads.drop_non_leaf(&out_g);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// `x` rounded to bf16 by the `f32_to_bf16` kernel.
fn to_bf16<S>(dev: &Cuda, k: &Loaded, x: &S) -> Result<CudaSlice<u16>, CudaError>
where
    S: DevicePtr<f32> + cudarc::driver::DeviceSlice<f32>,
{
    // SAFETY: the kernel below writes every element before anything reads the buffer.
    #[allow(unsafe_code)]
    let mut y = unsafe { dev.alloc_uninit::<u16>(x.len())? };
    k.run(plan::f32_to_bf16(input(x), output_bf16(&mut y)))?;
    Ok(y)
}

/// A product operand the op keeps: the tensor's own fp32 buffer, or its bf16 copy.
enum Held {
    F32(Arc<CachableCudaSlice<f32>>),
    Bf16(CudaSlice<u16>),
}

impl Held {
    fn new(
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

    fn ptr(&self) -> Ptr {
        match self {
            Held::F32(s) => Ptr::f32(&**s),
            Held::Bf16(s) => Ptr::bf16(s),
        }
    }
}

/// A device pointer and the element type cuBLAS reads there.
#[derive(Clone, Copy)]
struct Ptr {
    at: u64,
    len: usize,
    dtype: cudaDataType,
}

impl Ptr {
    fn f32<S: DevicePtr<f32> + cudarc::driver::DeviceSlice<f32>>(s: &S) -> Ptr {
        Ptr {
            at: *s.device_ptr(),
            len: s.len(),
            dtype: cudaDataType::CUDA_R_32F,
        }
    }

    fn bf16(s: &CudaSlice<u16>) -> Ptr {
        Ptr {
            at: *s.device_ptr(),
            len: cudarc::driver::DeviceSlice::len(s),
            dtype: cudaDataType::CUDA_R_16BF,
        }
    }
}

/// What the backward reads: the operands (fp32 or bf16) and the product mode.
struct Saved {
    x: Held,
    w: Held,
    mode: Matmul,
}

impl Saved {
    /// The product `g` added into `c`, its operands `x`, `W` (kept) and `dy` (given).
    fn product<C>(&self, dev: &Cuda, g: Gemm, dy: Option<Ptr>, c: &mut C) -> Result<(), CudaError>
    where
        C: DevicePtr<f32> + cudarc::driver::DeviceSlice<f32>,
    {
        let pick = |o: Operand| match o {
            Operand::Input => Some(self.x.ptr()),
            Operand::Weight => Some(self.w.ptr()),
            Operand::OutputGrad => dy,
        };
        let (a, b) = pick(g.a).zip(pick(g.b)).ok_or_else(super::invalid)?;
        gemm(dev, &g, self.mode, (a, b), Ptr::f32(&*c))
    }
}

/// The elements a column-major operand of `ld × cols` spans.
fn span(ld: i32, cols: i32) -> usize {
    usize::try_from(ld).unwrap_or(0) * usize::try_from(cols).unwrap_or(0)
}

/// `cublasGemmEx` of `g` on dfdx's handle (its default stream, like every kernel here).
fn gemm(dev: &Cuda, g: &Gemm, mode: Matmul, (a, b): (Ptr, Ptr), c: Ptr) -> Result<(), CudaError> {
    let (a_cols, b_cols) = (
        if g.transa { g.m } else { g.k },
        if g.transb { g.k } else { g.n },
    );
    if a.len < span(g.lda, a_cols) || b.len < span(g.ldb, b_cols) || c.len < span(g.ldc, g.n) {
        return Err(super::invalid());
    }
    let op = |t: bool| {
        if t {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    let compute = match mode {
        Matmul::Tf32 => cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        Matmul::F32 | Matmul::Bf16 => cublasComputeType_t::CUBLAS_COMPUTE_32F,
    };
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
            compute,
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )?;
    }
    Ok(())
}
