//! The model EMA on the GPU: `e = e·decay + p·(1 − decay)` in place on every trainable
//! tensor in one launch (`ema_multi` of `cuda/optimizer.cu`, from a table of the tensors'
//! buffers recorded by a walk as dfdx's `ModelEMA::try_ema` walks them and copied to the
//! device once), with dfdx's arithmetic (`decay` and `1 − decay` formed in f64, each rounded
//! to f32: `launch::EmaArgs`). The simulator tests the kernel against `ema_update`, and that
//! against dfdx's `axpy`, in `train/optimizer/cuda_parity.rs`.

use super::modules::{input_bytes, loaded};
use super::not_loaded;
use cudarc::driver::{DevicePtr, DeviceSlice};
use deitc_kernels::launch::EmaArgs;
use deitc_kernels::plan;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorRef,
};
use dfdx::prelude::*;

/// `ema = ema·decay + model·(1 − decay)` on every trainable tensor of `ema`.
pub(super) fn ema_update<M: TensorCollection<f32, Cuda>>(
    ema: &mut M,
    model: &M,
    decay: f64,
) -> Result<(), CudaError> {
    let mut op = Ema {
        dev: None,
        pairs: Vec::new(),
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (ema, model),
        f: &mut op,
    })?;
    let Some(dev) = op.dev else {
        return Ok(()); // no trainable tensor
    };
    let k = loaded(&dev).map_err(|_| not_loaded())?;
    let table = plan::ema_table(&op.pairs).map_err(|_| super::invalid())?;
    let chunks_at = table.chunks_at;
    let bytes = dev.cuda_device().htod_copy(table.bytes)?; // slots | chunks
    let (slots, chunks) = (bytes.slice(0..chunks_at), bytes.slice(chunks_at..));
    k.run(plan::ema_multi(
        input_bytes(&slots),
        input_bytes(&chunks),
        &EmaArgs::new(decay),
    ))
}

/// The visitor: the device, and every tensor's `(ema, parameter, length)`, recorded.
struct Ema {
    dev: Option<Cuda>,
    pairs: Vec<(u64, u64, usize)>,
}

impl TensorVisitor<f32, Cuda> for Ema {
    type Viewer = (ViewTensorMut, ViewTensorRef);
    type Err = CudaError;
    type E2 = f32;
    type D2 = Cuda;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cuda>,
        (e, p): (&mut Tensor<S, f32, Cuda>, &Tensor<S, f32, Cuda>),
    ) -> Result<Option<Tensor<S, f32, Cuda>>, Self::Err> {
        if !opts.do_gradient_update {
            return Ok(None); // dfdx's EMA leaves buffers (e.g. running statistics) alone
        }
        if self.dev.is_none() {
            self.dev = Some(e.device().clone());
        }
        // Element-wise over the two buffers: their layouts agree (both are the same
        // parameter of the same module), as dfdx's `axpy` asserts. `data_mut` makes the EMA's
        // buffer its own first; the addresses stay valid until the launch after the walk.
        let (n, p_at) = (p.data().len(), *p.data().device_ptr());
        if e.data().len() != n {
            return Err(super::invalid());
        }
        self.pairs.push((*e.data_mut().device_ptr(), p_at, n));
        Ok(None)
    }
}
