//! Checkpoints: one safetensors file with the model (`model.*`, timm names), the EMA
//! (`ema.*`), the optimizer moments (`opt.m.*`, `opt.v.*`) and, as metadata, where training
//! stands (`epoch`, `step_in_epoch`, `steps`, `best_top1`, `recipe_hash`). Written
//! atomically; the data order and every random draw are functions of (seed, epoch, index,
//! step), so no generator state needs saving.

use super::graph::Graph;
use super::tensor_io::{to_bytes, write_atomically};
use crate::model::TensorFile;
use std::collections::HashMap;
use std::path::Path;

/// Where training stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Position {
    /// Epochs fully done.
    pub epoch: u64,
    /// Steps done in the epoch after those (a mid-epoch save on Ctrl-C).
    pub step_in_epoch: u64,
    pub best_top1: Option<f64>,
    pub recipe_hash: String,
}

pub fn save(path: &Path, graph: &dyn Graph, pos: &Position) -> Result<(), String> {
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "deitc-checkpoint-1".to_string());
    meta.insert("epoch".to_string(), pos.epoch.to_string());
    meta.insert("step_in_epoch".to_string(), pos.step_in_epoch.to_string());
    meta.insert("steps".to_string(), graph.steps().to_string());
    meta.insert("recipe_hash".to_string(), pos.recipe_hash.clone());
    if let Some(b) = pos.best_top1 {
        meta.insert("best_top1".to_string(), b.to_string());
    }
    let bytes = to_bytes(&graph.state().map_err(|e| e.to_string())?, meta)?;
    write_atomically(path, &bytes).map_err(|e| e.to_string())
}

/// Reads a checkpoint into `graph`; returns where training stood.
pub fn load(path: &Path, graph: &mut dyn Graph) -> Result<Position, String> {
    let file = TensorFile::read(path).map_err(|e| e.to_string())?;
    let meta = file.metadata();
    if meta.get("format").map(String::as_str) != Some("deitc-checkpoint-1") {
        return Err("not a deitc checkpoint (no `format` metadata)".into());
    }
    let num = |k: &str| -> Result<u64, String> {
        meta.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("metadata `{k}` is missing or not a number"))
    };
    let pos = Position {
        epoch: num("epoch")?,
        step_in_epoch: num("step_in_epoch")?,
        best_top1: meta.get("best_top1").and_then(|v| v.parse().ok()),
        recipe_hash: meta.get("recipe_hash").cloned().unwrap_or_default(),
    };
    graph
        .restore(&file, num("steps")?)
        .map_err(|e| e.to_string())?;
    Ok(pos)
}
