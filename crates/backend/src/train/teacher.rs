//! The teacher, run without a tape in eval mode on the mixed batch, on the student's device:
//! timm's RegNetY-16GF (`arch = regnety_160`, [`super::regnet_teacher`]) from a timm
//! checkpoint, or any deitc checkpoint of a compiled shape — a DeiT (`arch = deit`) or the
//! small convnet (`arch = convnet`), its recipe in `teacher.recipe` or a pipeline stage.

use super::catalogue::Registry;
use super::graph::{Graph, GraphError};
use super::regnet_teacher;
use super::RunError;
use crate::ir::{Device, DistillMode, Recipe, TeacherArch};
use crate::model::TensorFile;
use dfdx::prelude::Cpu;

/// What the training loop (and `deitc bench`) needs from a teacher.
pub trait Teacher {
    fn classes(&self) -> usize;
    /// `(channels, image side)` of the images it takes.
    fn input(&self) -> (usize, usize);
    fn num_params(&self) -> usize;
    /// Eval-mode logits `n×K` of `n` normalised `C×H×W` images, or why the device failed.
    fn eval_logits(&self, images: &[f32], n: usize) -> Result<Vec<f32>, String>;
}

/// The teacher's logits for `n` images, or why not: a device failure, or logits that are
/// NaN or infinite (a teacher that overflows would otherwise hand the student NaN targets,
/// or, under hard distillation, the argmax of NaN: a silently wrong label).
pub fn finite_logits(t: &dyn Teacher, images: &[f32], n: usize) -> Result<Vec<f32>, String> {
    let logits = t.eval_logits(images, n)?;
    crate::io_limits::check_finite("logits", &logits).map_err(|e| {
        format!(
            "its logits hold {} on this batch; a teacher's outputs must be finite",
            e.counts()
        )
    })?;
    Ok(logits)
}

/// A deitc graph (DeiT or convnet) as a teacher: its model's weights, its recipe's eval head.
pub struct GraphTeacher(pub Box<dyn Graph>);

impl Teacher for GraphTeacher {
    fn classes(&self) -> usize {
        self.0.classes()
    }

    fn input(&self) -> (usize, usize) {
        self.0.input()
    }

    fn num_params(&self) -> usize {
        self.0.num_params()
    }

    fn eval_logits(&self, images: &[f32], n: usize) -> Result<Vec<f32>, String> {
        self.0
            .eval_logits(images, n, false)
            .map_err(|e| e.to_string())
    }
}

fn fail(message: String) -> RunError {
    RunError::Teacher { message }
}

/// The teacher the recipe distills from, or `None` without distillation.
pub fn build(graphs: &Registry, r: &Recipe) -> Result<Option<Box<dyn Teacher>>, RunError> {
    if r.distill.mode == DistillMode::None {
        return Ok(None);
    }
    let Some(t) = &r.distill.teacher else {
        return Err(fail("`distill.teacher` is not set".into()));
    };
    let arch = match t.arch {
        TeacherArch::Deit => "deit",
        TeacherArch::Convnet => "convnet",
        TeacherArch::Regnety160 => return regnety_160(r, t).map(Some),
    };
    // A teacher trained by an earlier stage: its recipe and its finished run's checkpoint.
    let (tr, checkpoint, recipe_path) = match &t.stage {
        Some(s) => {
            let tr = s.recipe.as_deref().cloned();
            let path = super::stages::output(s).map_err(fail)?;
            let Some(tr) = tr else {
                return Err(fail(format!("`{}` has no recipe", s.written())));
            };
            (
                tr,
                path.display().to_string(),
                format!("stage `{}`", s.stage),
            )
        }
        None => {
            let Some(recipe_path) = &t.recipe else {
                return Err(fail(format!(
                    "a `{arch}` teacher needs `distill.teacher.recipe`"
                )));
            };
            // The checker resolved it (and reported a recipe that does not check).
            let Some(tr) = t.resolved.as_deref().cloned() else {
                return Err(fail(format!(
                    "its recipe `{recipe_path}` does not check; run `deitc check {recipe_path}`"
                )));
            };
            (tr, t.checkpoint.clone(), format!("`{recipe_path}`"))
        }
    };
    if tr.model.is_transformer() != (t.arch == TeacherArch::Deit) {
        return Err(fail(format!(
            "`arch = {arch}`, but its recipe {recipe_path} describes a {}",
            if tr.model.is_transformer() {
                "transformer"
            } else {
                "convnet"
            }
        )));
    }
    // The teacher runs where the student does.
    let mut graph = match graphs.build(&tr, tr.train.seed, r.train.device) {
        Ok(g) => g,
        Err(RunError::ShapeNotCompiled { .. }) => {
            return Err(fail(format!(
                "its recipe {recipe_path} has a shape with no compiled graph"
            )))
        }
        Err(e) => return Err(e),
    };
    if graph.classes() != r.model.classes {
        return Err(fail(format!(
            "it predicts {} classes, the student {}",
            graph.classes(),
            r.model.classes
        )));
    }
    // The reason alone (`GraphError`'s wording): the message names the file.
    let file = TensorFile::read(&checkpoint)
        .map_err(|e| fail(format!("`{checkpoint}`: {}", GraphError::from(e))))?;
    graph
        .load_weights(&file, file.weights_prefix(false))
        .map_err(|e| fail(format!("`{checkpoint}`: {e}")))?;
    Ok(Some(Box::new(GraphTeacher(graph))))
}

/// The `regnety_160` teacher from `t.checkpoint`, on the student's device.
fn regnety_160(r: &Recipe, t: &crate::ir::Teacher) -> Result<Box<dyn Teacher>, RunError> {
    if t.stage.is_some() {
        return Err(fail(
            "a `regnety_160` teacher is read from a timm checkpoint, not trained by a stage".into(),
        ));
    }
    if r.model.channels != 3 {
        return Err(fail(format!(
            "`regnety_160` takes RGB images, the student {} channel(s)",
            r.model.channels
        )));
    }
    if t.classes != r.model.classes {
        return Err(fail(format!(
            "it predicts {} classes, the student {}",
            t.classes, r.model.classes
        )));
    }
    let (path, side, seed) = (t.checkpoint.as_str(), r.model.image, r.train.seed);
    let at = |e: String| fail(format!("`{path}`: {e}"));
    match r.train.device {
        Device::Cpu => Ok(Box::new(
            regnet_teacher::load::<Cpu>(path, t.classes, side, seed).map_err(at)?,
        )),
        #[cfg(feature = "cuda")]
        Device::Cuda => Ok(Box::new(
            regnet_teacher::load::<dfdx::prelude::Cuda>(path, t.classes, side, seed).map_err(at)?,
        )),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda => Err(RunError::Device(crate::device::DeviceError::NoCuda)),
    }
}
