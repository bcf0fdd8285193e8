//! The typed, resolved recipe: plain serde structs and their RON round-trip, nothing else.
//!
//! Field names mirror the language (`optimizer.lr` is `Recipe::optimizer.lr`), so a path in
//! a recipe, in `--set`, in `explain` and in this IR is the same path. Later phases (model,
//! data, train) consume only this.

mod augment;
mod data;
mod distill;
mod model;
mod optimizer;
mod recipe;
mod schedule;
mod shape;
mod stage;
mod train;

pub use augment::{
    Augment, AutoAugment, Crop, CropKind, EraseMode, Mix, RandAugment, RandomErasing,
};
pub use data::{Data, Interpolation, Preload, Source, Split};
pub use distill::{Distill, DistillMode, EvalHead, Teacher, TeacherArch};
pub use model::{Family, Model};
pub use optimizer::{NoDecay, Optimizer, OptimizerKind};
pub use recipe::{Finetune, HeadReset, PosEmbedInterp, Recipe};
pub use schedule::{Duration, Schedule, ScheduleKind, ScheduleUnit};
pub use shape::{grid_side, ConvShape, DeitShape, Named, Shape};
pub use stage::{StageOutput, StageRef};
pub use train::{Device, Every, Precision, Train};

/// `lo..hi` in the language.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}
