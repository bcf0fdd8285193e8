//! The whole resolved recipe.

use super::{Augment, Data, Distill, Model, Optimizer, Schedule, Train};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PosEmbedInterp {
    Bicubic,
    Bilinear,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadReset {
    /// Drop heads whose class count differs (the official behaviour).
    Auto,
    Always,
    Never,
}

/// `finetune { … }`: start from a checkpoint, possibly at another resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finetune {
    /// The checkpoint (for a stage output: the reference as written until the stage has run,
    /// its checkpoint's path after).
    pub from: String,
    /// An earlier stage of the pipeline whose checkpoint this starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_stage: Option<super::StageRef>,
    /// The checkpoint's image size, when it differs from `model.image`.
    pub from_image: Option<usize>,
    pub pos_embed: PosEmbedInterp,
    pub reset_head: HeadReset,
    /// Train with drop-path/dropout on (DeiT III); DeiT-I fine-tuned in eval mode.
    pub train_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The recipe file's stem, e.g. `deit_tiny_patch16_224`.
    pub name: String,
    pub model: Model,
    pub data: Data,
    pub augment: Augment,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub distill: Distill,
    pub train: Train,
    pub finetune: Option<Finetune>,
}

impl Recipe {
    /// The recipe as pretty RON.
    pub fn to_ron(&self) -> Result<String, ron::Error> {
        ron::ser::to_string_pretty(
            self,
            ron::ser::PrettyConfig::new()
                .struct_names(false)
                .compact_arrays(true),
        )
    }

    pub fn from_ron(text: &str) -> Result<Self, ron::error::SpannedError> {
        ron::from_str(text)
    }

    /// The recipe without the resolved recipes of the stages and teacher it uses (for
    /// display: what a recipe is written as).
    pub fn without_stage_recipes(&self) -> Self {
        let mut r = self.clone();
        if let Some(t) = r.distill.teacher.as_mut() {
            t.resolved = None;
        }
        if let Some(s) = r.distill.teacher.as_mut().and_then(|t| t.stage.as_mut()) {
            s.recipe = None;
        }
        if let Some(s) = r.finetune.as_mut().and_then(|f| f.from_stage.as_mut()) {
            s.recipe = None;
        }
        r
    }

    /// Applies `f` to this recipe and to every stage recipe it holds, depth first.
    pub fn for_each_stage_mut(&mut self, f: &mut dyn FnMut(&mut Recipe)) {
        if let Some(s) = self.distill.teacher.as_mut().and_then(|t| t.stage.as_mut()) {
            if let Some(r) = s.recipe.as_deref_mut() {
                r.for_each_stage_mut(f);
            }
        }
        if let Some(s) = self.finetune.as_mut().and_then(|t| t.from_stage.as_mut()) {
            if let Some(r) = s.recipe.as_deref_mut() {
                r.for_each_stage_mut(f);
            }
        }
        f(self);
    }
}
