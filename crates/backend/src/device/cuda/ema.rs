//! The model EMA on the GPU: one launch of `ema_update` (`cuda/optimizer.cu`) per trainable
//! tensor, `e = e·decay + p·(1 − decay)` in place, the tensors walked as dfdx's
//! `ModelEMA::try_ema` walks them, with its arithmetic (`decay` and `1 − decay` formed in
//! f64, each rounded to f32: `launch::EmaArgs`). The simulator tests the kernel against
//! dfdx's `axpy` in `train/optimizer/cuda_parity.rs`.

use super::modules::{input, loaded, output, Loaded};
use super::not_loaded;
use deitc_kernels::launch::EmaArgs;
use deitc_kernels::plan;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorRef,
};
use dfdx::prelude::*;
use std::sync::Arc;

/// `ema = ema·decay + model·(1 − decay)` on every trainable tensor of `ema`.
pub(super) fn ema_update<M: TensorCollection<f32, Cuda>>(
    ema: &mut M,
    model: &M,
    decay: f64,
) -> Result<(), CudaError> {
    let mut op = Ema {
        args: EmaArgs::new(decay),
        kernels: None,
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (ema, model),
        f: &mut op,
    })?;
    Ok(())
}

/// The visitor: the step's arguments and the kernels, loaded at the first tensor.
struct Ema {
    args: EmaArgs,
    kernels: Option<Arc<Loaded>>,
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
        if self.kernels.is_none() {
            self.kernels = Some(loaded(e.device()).map_err(|_| not_loaded())?);
        }
        let k = self.kernels.as_ref().ok_or_else(not_loaded)?;
        // Element-wise over the two buffers: their layouts agree (both are the same
        // parameter of the same module), as dfdx's `axpy` asserts.
        k.run(plan::ema_update(
            output(e.data_mut()),
            input(&**p.data()),
            &self.args,
        ))?;
        Ok(None)
    }
}
