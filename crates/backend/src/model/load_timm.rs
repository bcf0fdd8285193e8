//! Reading a timm `state_dict` (as safetensors) into a model whose tensors are visited under
//! timm's names.
//!
//! The model's `TensorCollection` impls name every tensor exactly as timm does
//! (`blocks.0.attn.qkv.weight`, `cls_token`, …), and dfdx's `Linear::weight` is
//! `Tensor<Rank2<O, I>>`, i.e. PyTorch's `[out, in]`, so almost every tensor copies over
//! unchanged. The one layout difference is the patch embedding: timm's Conv2d kernel
//! `[D, C, P, P]` is our `Linear<C·P·P, D>` weight `[D, C·P·P]`, the same bytes (patches are
//! flattened as `(channel, ky, kx)`). Both layouts are accepted for that key, so files written
//! by dfdx's `SaveToSafetensors` read back too.

use std::collections::BTreeSet;

use dfdx::nn::{TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName};
use dfdx::prelude::*;

use super::{LoadError, TensorFile};

/// timm's name for the one tensor whose layout differs.
pub(crate) const PATCH_WEIGHT: &str = "patch_embed.proj.weight";

/// A `TensorVisitor` that checks (`write == false`) or copies (`write == true`) every visited
/// tensor from `file[prefix + name]`.
pub(crate) struct TimmLoader<'a> {
    pub file: &'a TensorFile,
    pub prefix: &'a str,
    /// Channels C and patch side P, to spell the patch-embedding kernel `[D, C, P, P]`.
    pub channels: usize,
    pub patch: usize,
    pub write: bool,
    pub used: BTreeSet<String>,
}

impl TimmLoader<'_> {
    /// The shape timm stores for the tensor `name` whose dfdx shape is `ours`.
    fn timm_shape(&self, name: &str, ours: &[usize]) -> Vec<usize> {
        match ours {
            [d, _] if name == PATCH_WEIGHT => vec![*d, self.channels, self.patch, self.patch],
            _ => ours.to_vec(),
        }
    }

    /// Keys under `prefix` that no model tensor asked for.
    pub fn unexpected(&self) -> Result<(), LoadError> {
        let keys: Vec<String> = self
            .file
            .keys()
            .filter(|k| k.starts_with(self.prefix) && !self.used.contains(*k))
            .map(str::to_string)
            .collect();
        if keys.is_empty() {
            Ok(())
        } else {
            Err(LoadError::Unexpected { keys })
        }
    }
}

impl<E: Dtype, D: Device<E>> TensorVisitor<E, D> for TimmLoader<'_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = LoadError;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&mut Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, LoadError> {
        let key = format!("{}{name}", self.prefix);
        let info = self
            .file
            .info(&key)
            .ok_or_else(|| LoadError::Missing { key: key.clone() })?;
        let ours: Vec<usize> = t.shape().concrete().into_iter().collect();
        let expected = self.timm_shape(&name, &ours);
        if info.shape != expected && info.shape != ours {
            return Err(LoadError::Shape {
                key,
                expected,
                found: info.shape.clone(),
            });
        }
        let (_, values) = self.file.f64s(&key)?;
        if !self.write {
            crate::io_limits::check_finite(&key, &values).map_err(LoadError::NonFinite)?;
        }
        if self.write {
            let values: Vec<E> = values
                .into_iter()
                .map(|v| E::from_f64(v).unwrap_or_default())
                .collect();
            t.copy_from(&values);
        }
        self.used.insert(key);
        Ok(None)
    }
}

/// Copies `file[prefix + name]` into every tensor of `model` (timm names; `channels` and
/// `patch` spell the patch-embedding kernel). Strict and all-or-nothing: a first pass checks
/// every key, shape, dtype and that every value is finite, and rejects keys under `prefix`
/// the model lacks; only then a second pass writes.
pub(crate) fn load_strict<M, E, D>(
    model: &mut M,
    file: &TensorFile,
    prefix: &str,
    channels: usize,
    patch: usize,
) -> Result<(), LoadError>
where
    M: dfdx::nn::TensorCollection<E, D>,
    E: Dtype,
    D: Device<E>,
{
    let mut loader = TimmLoader {
        file,
        prefix,
        channels,
        patch,
        write: false,
        used: Default::default(),
    };
    M::iter_tensors(&mut dfdx::nn::RecursiveWalker {
        m: (&mut *model, String::new()),
        f: &mut loader,
    })?;
    loader.unexpected()?;
    loader.write = true;
    M::iter_tensors(&mut dfdx::nn::RecursiveWalker {
        m: (model, String::new()),
        f: &mut loader,
    })?;
    Ok(())
}
