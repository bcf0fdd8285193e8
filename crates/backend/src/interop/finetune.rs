//! `finetune { from = … }`: the weights a fresh run starts from, as the official
//! `main.py --finetune` prepares them.
//!
//! 1. Read the file: a timm `state_dict` (safetensors or `.pth`) or a deitc checkpoint (its
//!    `model.*` tensors; told apart by the `model.` prefix).
//! 2. `pos_embed`: when its patch grid differs from the model's, resample the grid
//!    (`finetune.pos_embed`, bicubic by default, see [`super::pos_embed`]); the cls/dist
//!    rows are kept. `finetune.from_image`, when set, must agree with the file's grid.
//! 3. Heads (`head.*`, `head_dist.*`): `reset_head = auto` keeps the model's fresh heads
//!    where the class count differs, `always` keeps them in any case, `never` refuses a
//!    different class count.
//! 4. Everything else must match the model exactly (see [`super::weights::conform`]).
//!
//! The result is loaded into the model and its EMA (the EMA starts from the loaded weights,
//! as timm's `ModelEma` is built after loading); the optimizer starts fresh.

use super::names::{HEADS, POS_EMBED};
use super::pos_embed::{grid_side, resample, Interp};
use super::weights::{self, conform, Layout, Pick, Weights};
use super::InteropError;
use crate::ir::{Finetune, HeadReset, PosEmbedInterp, Recipe};
use crate::model::TensorFile;
use crate::train::graph::Graph;
use crate::train::tensor_io::{to_bytes, Named};
use std::collections::HashMap;
use std::path::Path;

/// What was loaded, for the run's log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub path: String,
    pub format: weights::Format,
    /// Tensors taken from the file.
    pub tensors: usize,
    /// `(from, to)` grid sides when `pos_embed` was resampled.
    pub grid: Option<(usize, usize)>,
    pub interp: Option<Interp>,
    /// Head tensors left freshly initialised.
    pub reset: Vec<String>,
    /// `(file, model)` class counts when they differ.
    pub classes: Option<(usize, usize)>,
}

impl Loaded {
    /// One line for the run's log.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "fine-tuning from {} ({}): {} tensors loaded",
            self.path,
            self.format.describe(),
            self.tensors
        );
        if let (Some((a, b)), Some(i)) = (self.grid, self.interp) {
            let how = match i {
                Interp::Bicubic => "bicubic",
                Interp::Bilinear => "bilinear",
            };
            s.push_str(&format!(" · pos_embed {a}×{a} → {b}×{b} ({how})"));
        }
        if !self.reset.is_empty() {
            s.push_str(&format!(" · {} re-initialised", self.reset.join(", ")));
            if let Some((a, b)) = self.classes {
                s.push_str(&format!(" ({a} → {b} classes)"));
            }
        }
        s
    }
}

/// The model tensors to start from: the file's, adapted to `recipe`'s model, with the
/// fresh tensors of `fresh` (deitc names, no prefix) where heads are reset. Every problem
/// is a diagnostic.
pub fn prepare(
    recipe: &Recipe,
    ft: &Finetune,
    mut w: Weights,
    fresh: &[Named],
) -> Result<(Vec<Named>, Loaded), Vec<InteropError>> {
    let m = &recipe.model;
    let specs = weights::specs(m).map_err(|e| vec![e])?;
    let mut loaded = Loaded {
        path: w.path.clone(),
        format: w.format,
        tensors: 0,
        grid: None,
        interp: None,
        reset: Vec::new(),
        classes: None,
    };
    // The position embedding's grid.
    let file_prefix = 1 + usize::from(w.distilled());
    let to = m.image / m.patch.max(1);
    if let Some((shape, data)) = w.tensors.get_mut(POS_EMBED) {
        let from = match shape.as_slice() {
            [1, t, d] if *d == m.embed => grid_side(*t, file_prefix),
            _ => None,
        };
        if let Some(px) = ft.from_image {
            if from.is_some_and(|g| g * m.patch != px) {
                return Err(vec![InteropError::FromImage {
                    path: w.path.clone(),
                    from_image: px,
                    grid: from.unwrap_or_default(),
                    patch: m.patch,
                }]);
            }
        }
        let interp = match ft.pos_embed {
            PosEmbedInterp::Bicubic => Some(Interp::Bicubic),
            PosEmbedInterp::Bilinear => Some(Interp::Bilinear),
            PosEmbedInterp::None => None,
        };
        if let (Some(g), Some(i)) = (from, interp) {
            if g != to && file_prefix == m.prefix_tokens() {
                *data = resample(data, file_prefix, g, to, m.embed, i);
                *shape = vec![1, file_prefix + to * to, m.embed];
                loaded.grid = Some((g, to));
                loaded.interp = Some(i);
            }
        }
    }
    // The heads.
    for f in HEADS
        .iter()
        .filter_map(|h| fresh.iter().find(|f| f.name == *h))
    {
        let differs = match w.tensors.get(&f.name) {
            Some((shape, _)) => *shape != f.shape,
            None if ft.reset_head == HeadReset::Always => false,
            None => continue, // reported as missing
        };
        if differs && loaded.classes.is_none() {
            let found = w.shape(&f.name).and_then(|s| s.first().copied());
            loaded.classes = Some((found.unwrap_or(0), m.classes));
        }
        match ft.reset_head {
            HeadReset::Never if differs => {
                return Err(vec![InteropError::HeadClasses {
                    path: w.path.clone(),
                    key: f.name.clone(),
                    found: w.shape(&f.name).map(<[usize]>::to_vec).unwrap_or_default(),
                    expected: f.shape.clone(),
                }]);
            }
            HeadReset::Always => {}
            HeadReset::Auto if differs => {}
            _ => continue,
        }
        w.tensors
            .insert(f.name.clone(), (f.shape.clone(), f.data.clone()));
        loaded.reset.push(f.name.clone());
    }
    let out = conform(&w, &specs, m, Layout::Ours, true)?;
    loaded.tensors = out.len() - loaded.reset.len();
    Ok((out, loaded))
}

/// Loads `ft.from` into `graph` (model and EMA) for `recipe`; returns what was loaded.
pub fn apply(
    graph: &mut dyn Graph,
    recipe: &Recipe,
    ft: &Finetune,
) -> Result<Loaded, Vec<InteropError>> {
    let w = weights::read(Path::new(&ft.from), Pick::Model).map_err(|e| vec![e])?;
    let state = graph.state().map_err(|e| {
        vec![InteropError::Internal {
            message: e.to_string(),
        }]
    })?;
    let fresh: Vec<Named> = state
        .into_iter()
        .filter_map(|n| {
            let name = n.name.strip_prefix("model.")?.to_string();
            Some(Named { name, ..n })
        })
        .collect();
    let (tensors, loaded) = prepare(recipe, ft, w, &fresh)?;
    load_into(graph, &tensors).map_err(|message| vec![InteropError::Internal { message }])?;
    Ok(loaded)
}

/// Puts `tensors` (deitc names and layouts) into the graph's model and EMA, at step 0.
pub fn load_into(graph: &mut dyn Graph, tensors: &[Named]) -> Result<(), String> {
    let mut all: Vec<Named> = tensors
        .iter()
        .map(|t| Named {
            name: format!("model.{}", t.name),
            ..t.clone()
        })
        .collect();
    if graph.has_ema() {
        all.extend(tensors.iter().map(|t| Named {
            name: format!("ema.{}", t.name),
            ..t.clone()
        }));
    }
    let bytes = to_bytes(&all, HashMap::new())?;
    let file = TensorFile::parse(bytes).map_err(|e| e.to_string())?;
    graph.restore(&file, 0).map_err(|e| e.to_string())
}
