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
