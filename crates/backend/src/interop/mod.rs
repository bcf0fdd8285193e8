//! Interoperability with timm and PyTorch: reading and writing timm `state_dict`s, and
//! starting a run from imported weights.
//!
//! - [`names`]: timm's tensor names, order and layouts for a recipe's model, and the one
//!   layout deitc differs in (the patch embedding's conv kernel).
//! - [`weights`]: reading a weight file — timm safetensors, a PyTorch `.pth` ([`pth`]), or a
//!   deitc checkpoint — and matching it against a model, every mismatch a diagnostic.
//! - [`pos_embed`]: resampling the position embedding's patch grid (PyTorch's bicubic and
//!   bilinear `F.interpolate`, `align_corners=False`).
//! - [`finetune`]: what `finetune { from = … }` loads before a run's first step.
//! - [`import`] and [`export`]: the two conversions behind `deitc import` and `deitc export`.
//!
//! See docs/interop.md.

mod error;
pub mod finetune;
pub mod names;
pub mod pos_embed;
pub mod pth;
pub mod weights;

pub use error::InteropError;

use crate::ir::Recipe;
use crate::model::TensorFile;
use crate::train::catalogue::Registry;
use crate::train::checkpoint;
use crate::train::tensor_io::{to_bytes, Named};
use std::collections::HashMap;
use std::path::Path;
use weights::{conform, Layout, Pick};

/// The deitc checkpoint for the timm weights in `input`, checked against `recipe`'s model:
/// `model.*` (and `ema.*`, a copy, when the recipe keeps an EMA), at step 0.
pub fn import(
    graphs: &Registry,
    input: &Path,
    recipe: &Recipe,
) -> Result<Converted, Vec<InteropError>> {
    let specs = weights::specs(&recipe.model).map_err(|e| vec![e])?;
    let w = weights::read(input, Pick::Model).map_err(|e| vec![e])?;
    let model = conform(&w, &specs, &recipe.model, Layout::Ours, false)?;
    let mut tensors: Vec<Named> = prefixed(&model, "model.");
    if recipe.train.ema.is_some() {
        tensors.extend(prefixed(&model, "ema."));
    }
    let meta = checkpoint::Meta::imported(w.format.describe());
    let bytes = to_bytes(&tensors, meta.to_map()).map_err(internal)?;
    verify(graphs, recipe, &bytes)?;
    Ok(Converted {
        bytes,
        tensors: model.len(),
        params: model.iter().map(|t| t.data.len()).sum(),
        from: w.format,
    })
}

/// The timm `state_dict` (safetensors, timm names and layouts) of the model (or, with
/// `ema`, the EMA) weights of the deitc checkpoint `input`, checked against `recipe`.
pub fn export(input: &Path, recipe: &Recipe, ema: bool) -> Result<Converted, Vec<InteropError>> {
    let specs = weights::specs(&recipe.model).map_err(|e| vec![e])?;
    let pick = if ema { Pick::Ema } else { Pick::Model };
    let w = weights::read(input, pick).map_err(|e| vec![e])?;
    if w.format != weights::Format::Deitc {
        return Err(vec![InteropError::NotACheckpoint {
            path: w.path.clone(),
            what: "model weights (`model.*`)".into(),
        }]);
    }
    let model = conform(&w, &specs, &recipe.model, Layout::Timm, false)?;
    let mut meta = HashMap::new();
    // What `safetensors.torch.save_file` writes.
    meta.insert("format".to_string(), "pt".to_string());
    let bytes = to_bytes(&model, meta).map_err(internal)?;
    Ok(Converted {
        bytes,
        tensors: model.len(),
        params: model.iter().map(|t| t.data.len()).sum(),
        from: w.format,
    })
}

/// A converted file, ready to write.
#[derive(Debug, Clone)]
pub struct Converted {
    pub bytes: Vec<u8>,
    /// Model tensors and their total element count.
    pub tensors: usize,
    pub params: usize,
    pub from: weights::Format,
}

fn prefixed(tensors: &[Named], prefix: &str) -> Vec<Named> {
    tensors
        .iter()
        .map(|t| Named {
            name: format!("{prefix}{}", t.name),
            ..t.clone()
        })
        .collect()
}

fn internal(message: String) -> Vec<InteropError> {
    vec![InteropError::Internal { message }]
}

/// When the recipe's shape has a graph in `graphs`, loads the new checkpoint into its graph (on the
/// CPU): what `deitc eval` and `finetune.from` will do with it.
fn verify(graphs: &Registry, recipe: &Recipe, bytes: &[u8]) -> Result<(), Vec<InteropError>> {
    if !graphs.has(&recipe.model) {
        return Ok(());
    }
    let file = TensorFile::parse(bytes.to_vec()).map_err(|e| internal(e.to_string()))?;
    let mut graph = graphs
        .build(recipe, recipe.train.seed, crate::ir::Device::Cpu)
        .map_err(|e| internal(format!("no CPU graph for the imported weights: {e:?}")))?;
    graph
        .load_weights(&file, "model.")
        .map_err(|e| internal(format!("the imported weights do not load: {e}")))
}
