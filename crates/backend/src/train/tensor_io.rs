//! Named f32 tensors to and from one safetensors file, written atomically.
//!
//! A checkpoint is a single file so that replacing it is one `rename`: the bytes go to
//! `<name>.tmp` in the same folder, are fsynced, then renamed over the old file (and the
//! folder is fsynced). A crash at any point leaves either the old or the new checkpoint.

use dfdx::nn::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef,
};
use dfdx::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// A named tensor on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Every tensor of `model`, under `prefix` + its timm name.
pub fn collect<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &M,
    prefix: &str,
) -> Result<Vec<Named>, D::Err> {
    let mut c = Collect {
        prefix,
        out: Vec::new(),
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut c,
    })?;
    Ok(c.out)
}

struct Collect<'a> {
    prefix: &'a str,
    out: Vec<Named>,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Collect<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (t, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        self.out.push(Named {
            name: format!("{}{name}", self.prefix),
            shape: t.shape().concrete().into_iter().collect(),
            data: t.as_vec(),
        });
        Ok(None)
    }
}

/// The safetensors bytes of `tensors` with string `metadata`.
pub fn to_bytes(tensors: &[Named], metadata: HashMap<String, String>) -> Result<Vec<u8>, String> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.shape.clone(),
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            ::safetensors::tensor::TensorView::new(::safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    ::safetensors::serialize(views, &Some(metadata)).map_err(|e| e.to_string())
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
