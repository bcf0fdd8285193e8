//! Pipelines: a stage's output used by a later stage (`stage.teacher.best`).

use super::Recipe;
use serde::{Deserialize, Serialize};

/// Which checkpoint of a finished stage: `best` (highest val top-1) or `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageOutput {
    Best,
    Last,
}

impl StageOutput {
    pub const NAMES: [&'static str; 2] = ["best", "last"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "best" => Some(StageOutput::Best),
            "last" => Some(StageOutput::Last),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StageOutput::Best => "best",
            StageOutput::Last => "last",
        }
    }

    /// The file in the stage's run directory.
    pub fn file(self) -> &'static str {
        match self {
            StageOutput::Best => "best.safetensors",
            StageOutput::Last => "checkpoint.safetensors",
        }
    }
}

/// `stage.<stage>.<output>`: an earlier stage's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRef {
    pub stage: String,
    pub output: StageOutput,
    /// The stage's resolved recipe, filled in when the pipeline is checked. It is part of
    /// this recipe's identity: a change upstream changes the hash of every stage below.
    pub recipe: Option<Box<Recipe>>,
}

impl StageRef {
    /// `stage.teacher.best`, as written.
    pub fn written(&self) -> String {
        format!("stage.{}.{}", self.stage, self.output.name())
    }
}
