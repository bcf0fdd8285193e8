//! The teacher: any deitc checkpoint of a compiled shape — a DeiT (`arch = deit`) or the
//! small convnet (`arch = convnet`), its recipe in `teacher.recipe` — run without a tape in
//! eval mode on the mixed batch, on the student's device.

use super::catalogue;
use super::graph::Graph;
use crate::diag::{Diag, ErrorKind};
use crate::ir::{DistillMode, Recipe, TeacherArch};
use crate::model::TensorFile;
use std::path::Path;

fn fail(message: String) -> Box<Diag> {
    Box::new(Diag::global(ErrorKind::Teacher { message }))
}

/// The teacher the recipe distills from, or `None` without distillation.
pub fn build(r: &Recipe) -> Result<Option<Box<dyn Graph>>, Box<Diag>> {
    if r.distill.mode == DistillMode::None {
        return Ok(None);
    }
    let Some(t) = &r.distill.teacher else {
        return Err(fail("`distill.teacher` is not set".into()));
    };
    let arch = match t.arch {
        TeacherArch::Deit => "deit",
        TeacherArch::Convnet => "convnet",
        TeacherArch::Regnety160 => {
            return Err(fail(
                "`regnety_160` teachers are not built by this version of deitc".into(),
            ));
        }
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
            let checked = crate::check::check(Path::new(recipe_path), &[]);
            let Some(tr) = checked.recipe.filter(|_| !checked.diags.has_errors()) else {
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
    let mut graph = match catalogue::build(&tr, tr.train.seed, r.train.device) {
        Ok(g) => g,
        Err(ErrorKind::ShapeNotCompiled { .. }) => {
            return Err(fail(format!(
                "its recipe {recipe_path} has a shape with no compiled graph"
            )))
        }
        Err(kind) => return Err(Box::new(Diag::global(kind))),
    };
    if graph.classes() != r.model.classes {
        return Err(fail(format!(
            "it predicts {} classes, the student {}",
            graph.classes(),
            r.model.classes
        )));
    }
    let file = TensorFile::read(&checkpoint).map_err(|e| fail(format!("`{checkpoint}`: {e}")))?;
    let prefix = if file.keys().any(|k| k.starts_with("model.")) {
        "model."
    } else {
        ""
    };
    graph
        .load_weights(&file, prefix)
        .map_err(|e| fail(format!("`{checkpoint}`: {e}")))?;
    Ok(Some(graph))
}
