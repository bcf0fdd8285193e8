//! `distill { … }`: knowledge distillation through the distillation token.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistillMode {
    None,
    /// KL(teacher ‖ student)·τ²/(B·C), as the official code.
    Soft,
    /// Cross-entropy against the teacher's argmax.
    Hard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalHead {
    /// `(cls + dist) / 2` logits.
    Average,
    Cls,
    Dist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeacherArch {
    /// timm's RegNetY-16GF, the official DeiT teacher.
    #[serde(rename = "regnety_160")]
    Regnety160,
    /// A small residual convnet for small data, trainable by deitc.
    Convnet,
    /// A deitc DeiT checkpoint (its recipe in `teacher.recipe`).
    Deit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Teacher {
    pub arch: TeacherArch,
    pub checkpoint: String,
    /// The recipe of a `deit` teacher.
    pub recipe: Option<String>,
    pub classes: usize,
    /// A teacher trained by an earlier stage of the pipeline (`checkpoint` then holds the
    /// reference as written until the stage has run, and its checkpoint's path after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<super::StageRef>,
    /// The checked recipe that `recipe` names, filled in by the checker (which reports a
    /// recipe that does not check at `distill.teacher.recipe`). Not written out: a recipe's
    /// identity holds the path, as written.
    #[serde(default, skip_serializing)]
    pub resolved: Option<Box<super::Recipe>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    pub mode: DistillMode,
    /// Weight of the distillation loss: `(1−α)·base + α·kd`.
    pub alpha: f64,
    /// Soft-distillation temperature.
    pub tau: f64,
    pub teacher: Option<Teacher>,
    pub eval_head: EvalHead,
}

impl Teacher {
    /// The teacher's checked recipe: the stage's that trains it, or the one its `recipe`
    /// names (filled in by the checker).
    pub fn checked_recipe(&self) -> Option<&super::Recipe> {
        match &self.stage {
            Some(s) => s.recipe.as_deref(),
            None => self.resolved.as_deref(),
        }
    }
}
