//! Pipelines: a recipe made of `stage name { … }` blocks, each a recipe of its own (with its
//! own `extends`), where a later stage uses an earlier one's checkpoint
//! (`distill.teacher.checkpoint = stage.teacher.best`, `finetune.from = stage.student.last`).
//!
//! Every stage is checked like a recipe file; then the stages' dependencies are ordered
//! (a cycle is an error), each stage output is checked against the stage that uses it
//! (classes, architecture, model shape, resolution), and each reference gets the resolved
//! recipe of the stage it names — so a stage's IR, and with it its hash, covers everything
//! upstream of it.

use super::inherit::{self, StageScope};
use super::{evaluate, sweep, BuildFacts, Checked, Env, Request};
use crate::diag::{Diag, Diagnostics, ErrorKind};
use crate::ir::{PosEmbedInterp, Recipe, StageRef, TeacherArch};
use crate::source::{SourceMap, Span};
use crate::syntax::ast;
use std::path::Path;

/// One checked stage.
#[derive(Debug)]
pub struct Stage {
    pub name: String,
    /// The stage's name in `stage name { … }`.
    pub span: Span,
    /// Its check (its source map is the pipeline's; its diagnostics are the pipeline's).
    pub checked: Checked,
    /// The stages whose outputs it uses.
    pub needs: Vec<usize>,
}

/// A checked pipeline.
#[derive(Debug)]
pub struct Pipeline {
    pub map: SourceMap,
    pub diags: Diagnostics,
    /// In the order written.
    pub stages: Vec<Stage>,
    /// The order to run them in: every stage after the stages it uses. Empty on a cycle.
    pub order: Vec<usize>,
}

impl Pipeline {
    /// No errors, and every stage resolved.
    pub fn ok(&self) -> bool {
        !self.diags.has_errors()
            && !self.order.is_empty()
            && self.stages.iter().all(|s| s.checked.recipe.is_some())
    }

    pub fn names(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.name.clone()).collect()
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// `target` and every stage it depends on, in run order.
    pub fn upstream_of(&self, target: usize) -> Vec<usize> {
        let mut wanted = vec![false; self.stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !std::mem::replace(&mut wanted[i], true) {
                todo.extend(self.stages[i].needs.iter().copied());
            }
        }
        self.order.iter().copied().filter(|i| wanted[*i]).collect()
    }

    /// The stage named `stage` (the last in run order by default) as an ordinary check,
    /// carrying the whole pipeline's diagnostics; an unknown name is an error.
    pub fn select(mut self, stage: Option<&str>) -> Checked {
        let index = match stage {
            None => self
                .order
                .last()
                .copied()
                .or(self.stages.len().checked_sub(1)),
            Some(name) => {
                let found = self.find(name);
                if found.is_none() {
                    let names = self.names();
                    let suggestion = crate::diag::suggest(name, names.iter().map(String::as_str));
                    self.diags.push(Diag::global(ErrorKind::NoSuchStage {
                        name: name.into(),
                        stages: names,
                        suggestion,
                    }));
                }
                found
            }
        };
        let mut checked = match index {
            Some(i) => self.stages.swap_remove(i).checked,
            None => Checked {
                map: SourceMap::new(),
                diags: Diagnostics::default(),
                recipe: None,
                origins: Default::default(),
                formulas: Default::default(),
                facts: None,
                sweep: None,
            },
        };
        checked.map = self.map;
        checked.diags = self.diags.sorted();
        checked
    }
}

/// Checks `path` as a pipeline; `None` when it is not one (no stages, or it cannot be read
/// or parsed: the ordinary check reports that).
pub fn check(path: &Path, overrides: &[String], build: &BuildFacts) -> Option<Pipeline> {
    let req = Request {
        overrides,
        ..Request::default()
    };
    check_request(path, &req, build)
}

/// Checks `path` as a pipeline as `req` asks (its `stage` is not used here: every stage is
/// checked; `--point` applies to that stage's sweep, or to every swept stage without one).
pub fn check_request(path: &Path, req: &Request<'_>, build: &BuildFacts) -> Option<Pipeline> {
    let env = Env {
        build,
        teacher_of: &[],
    };
    check_in(path, req, env)
}

pub(crate) fn check_in(path: &Path, req: &Request<'_>, env: Env<'_>) -> Option<Pipeline> {
    let mut map = SourceMap::new();
    let root = inherit::read_source(&mut map, path, None).ok()?;
    let file = crate::syntax::parse_recipe(&map, root).ok()?;
    let written: Vec<&ast::Stage> = file.stages().collect();
    if written.is_empty() {
        return None;
    }
    let mut diags = Diagnostics::default();
    for e in &file.extends {
        diags.push(Diag::error(
            ErrorKind::PipelineExtends { base: None },
            e.span,
        ));
    }
    let names: Vec<String> = written.iter().map(|s| s.name.name.clone()).collect();
    for (i, s) in written.iter().enumerate() {
        let name = &s.name.name;
        if let Some(first) = written[..i].iter().find(|t| t.name.name == *name) {
            diags.push(
                Diag::error(
                    ErrorKind::DuplicateStage { name: name.clone() },
                    s.name.span,
                )
                .with_secondary(first.name.span, "first declared here"),
            );
        } else if name == "stage" || super::schema::block(name).is_some() {
            diags.push(Diag::error(
                ErrorKind::ReservedStage { name: name.clone() },
                s.name.span,
            ));
        }
    }
    for item in &file.items {
        if let ast::Item::Block(b) = item {
            if b.name.name == sweep::KEYWORD {
                diags.push(Diag::error(
                    ErrorKind::SweepPipeline {
                        stages: names.clone(),
                        cli: false,
                    },
                    b.name.span,
                ));
            }
        }
    }
    let overrides = inherit::add_overrides(&mut map, req.overrides);
    let sweeps = sweep::add_sources(&mut map, req.sweeps, req.overrides.len());
    let pipeline_name = path
        .file_stem()
        .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned());
    let mut stages = Vec::new();
    for (k, s) in written.iter().enumerate() {
        let mut stage_diags = Diagnostics::default();
        let scope = StageScope {
            name: &s.name.name,
            all: &names,
        };
        let pipeline = inherit::Pipeline {
            path,
            id: root,
            ast: &file,
        };
        let mut loaded =
            inherit::load_stage(&mut map, &pipeline, s, &overrides, &scope, &mut stage_diags);
        let sweep_scope = sweep::Scope {
            stage: &s.name.name,
            all: &names,
        };
        let report = k == 0;
        sweep::apply_cli(
            &map,
            &mut loaded.tree,
            &sweeps,
            Some(&sweep_scope),
            report,
            &mut stage_diags,
        );
        let name = format!("{pipeline_name}.{}", s.name.name);
        let mut checked = if loaded.tree.sweep.is_empty() {
            evaluate(map, stage_diags, &loaded, name, &names, env)
        } else {
            let picked = req.stage.is_none_or(|t| t == s.name.name);
            let wanted = if picked { req.points } else { &[] };
            sweep::evaluate_points(map, stage_diags, &loaded, name, &names, env, wanted)
        };
        map = std::mem::replace(&mut checked.map, SourceMap::new());
        diags.extend(std::mem::take(&mut checked.diags.items));
        stages.push(Stage {
            name: s.name.name.clone(),
            span: s.name.span,
            checked,
            needs: Vec::new(),
        });
    }
    if !req.points.is_empty() && stages.iter().all(|s: &Stage| s.checked.sweep.is_none()) {
        diags.push(Diag::global(ErrorKind::NotASweep {
            wanted: req.points.join(","),
        }));
    }
    let mut p = Pipeline {
        map,
        diags,
        stages,
        order: Vec::new(),
    };
    link(&mut p);
    Some(p)
}

/// A stage output used by a stage: the field, and the reference.
fn uses(r: &Recipe) -> Vec<(&'static str, &StageRef)> {
    let mut v = Vec::new();
    if let Some(s) = r.distill.teacher.as_ref().and_then(|t| t.stage.as_ref()) {
        v.push(("distill.teacher.checkpoint", s));
    }
    if let Some(s) = r.finetune.as_ref().and_then(|f| f.from_stage.as_ref()) {
        v.push(("finetune.from", s));
    }
    v
}

/// Orders the stages, checks each use of a stage output, and fills in the used recipes.
fn link(p: &mut Pipeline) {
    let n = p.stages.len();
    for i in 0..n {
        let needs: Vec<usize> = p.stages[i]
            .checked
            .recipe
            .as_ref()
            .map(|r| {
                uses(r)
                    .iter()
                    .filter_map(|(_, s)| p.find(&s.stage))
                    .collect()
            })
            .unwrap_or_default();
        p.stages[i].needs = needs;
    }
    let Some(order) = topological(p) else { return };
    for &i in &order {
        let Some(r) = p.stages[i].checked.recipe.as_ref() else {
            continue;
        };
        let mut found = Vec::new();
        for (field, s) in uses(r) {
            let Some(j) = p.find(&s.stage) else { continue };
            let Some(up) = p.stages[j].checked.recipe.as_ref() else {
                continue;
            };
            let at = use_span(&p.stages[i].checked, field, p.stages[i].span);
            if let Some(sw) = p.stages[j]
                .checked
                .sweep
                .as_ref()
                .filter(|w| w.points.len() > 1)
            {
                found.push(
                    Diag::error(
                        ErrorKind::SweepUsedStage {
                            stage: p.stages[j].name.clone(),
                            points: sw.points.len(),
                        },
                        at,
                    )
                    .with_secondary(p.stages[j].span, "sweeps its recipe"),
                );
                continue;
            }
            let upstream = (p.stages[j].span, p.stages[j].name.as_str());
            found.extend(mismatches(r, up, field, at, upstream));
        }
        p.diags.extend(found);
        // Fill in the used stages' recipes (already complete: they come earlier in order).
        let ups: Vec<Option<Box<Recipe>>> = uses(r)
            .iter()
            .map(|(_, s)| {
                p.find(&s.stage)
                    .and_then(|j| p.stages[j].checked.recipe.clone())
                    .map(Box::new)
            })
            .collect();
        // The stage's recipe, and every point's when it is swept.
        let c = &mut p.stages[i].checked;
        let points = c.sweep.iter_mut().flat_map(|w| w.points.iter_mut());
        for r in c
            .recipe
            .iter_mut()
            .chain(points.filter_map(|q| q.recipe.as_mut()))
        {
            fill(r, &ups);
        }
    }
    p.order = order;
}

/// Gives `r`'s stage references the resolved recipes of the stages they name (`ups`, in
/// the order of [`uses`]).
fn fill(r: &mut Recipe, ups: &[Option<Box<Recipe>>]) {
    let mut ups = ups.iter().cloned();
    if let Some(t) = r.distill.teacher.as_mut().and_then(|t| t.stage.as_mut()) {
        t.recipe = ups.next().flatten();
    }
    if let Some(f) = r.finetune.as_mut() {
        if let Some(s) = f.from_stage.as_mut() {
            s.recipe = ups.next().flatten();
            // The checkpoint's image size is the stage's.
            if f.from_image.is_none() {
                f.from_image = s.recipe.as_ref().map(|u| u.model.image);
            }
        }
    }
}

/// Where a stage writes the field (the statement), else its name.
fn use_span(c: &Checked, field: &str, fallback: Span) -> Span {
    c.origins.get(field).copied().unwrap_or(fallback)
}

/// Kahn's algorithm in written order; on a cycle, reports it and returns `None`.
fn topological(p: &mut Pipeline) -> Option<Vec<usize>> {
    let n = p.stages.len();
    let mut done = vec![false; n];
    let mut order = Vec::new();
    while order.len() < n {
        let next = (0..n).find(|&i| !done[i] && p.stages[i].needs.iter().all(|&j| done[j]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                // Walk the dependencies from an unfinished stage until one repeats.
                let mut path = Vec::new();
                let mut at = (0..n).find(|&i| !done[i])?;
                while !path.contains(&at) {
                    path.push(at);
                    at = p.stages[at]
                        .needs
                        .iter()
                        .copied()
                        .find(|&j| !done[j])
                        .unwrap_or(at);
                }
                let start = path.iter().position(|&i| i == at).unwrap_or(0);
                let cycle = &path[start..];
                let mut chain: Vec<String> =
                    cycle.iter().map(|&i| p.stages[i].name.clone()).collect();
                chain.push(p.stages[at].name.clone());
                let last = *cycle.last().unwrap_or(&at);
                let field = p.stages[last]
                    .checked
                    .recipe
                    .as_ref()
                    .and_then(|r| {
                        uses(r)
                            .into_iter()
                            .find(|(_, s)| s.stage == p.stages[at].name)
                            .map(|(f, _)| f)
                    })
                    .unwrap_or("");
                let span = use_span(&p.stages[last].checked, field, p.stages[last].span);
                p.diags
                    .push(Diag::error(ErrorKind::StageCycle { chain }, span));
                return None;
            }
        }
    }
    Some(order)
}

/// How `used` (stage `upstream`) fails to fit where `r` uses it in `field`.
fn mismatches(
    r: &Recipe,
    used: &Recipe,
    field: &str,
    at: Span,
    upstream: (Span, &str),
) -> Vec<Diag> {
    let (up_span, up) = upstream;
    let mut out = Vec::new();
    let mut fail = |message: String, help: &str, note: String| {
        out.push(
            Diag::error(
                ErrorKind::StageMismatch {
                    message,
                    help: help.into(),
                },
                at,
            )
            .with_secondary(up_span, note),
        );
    };
    let kind = |m: &crate::ir::Model| {
        if m.is_transformer() {
            "a transformer"
        } else {
            "a convnet"
        }
    };
    if field == "distill.teacher.checkpoint" {
        let Some(t) = r.distill.teacher.as_ref() else {
            return out;
        };
        if used.model.classes != r.model.classes {
            fail(
                format!(
                    "the teacher, stage `{up}`, predicts {} classes and this student {}",
                    used.model.classes, r.model.classes
                ),
                "teacher and student must share the class list: train both stages on the same data",
                format!("trains a {}-class model", used.model.classes),
            );
        }
        let arch_fits = match t.arch {
            TeacherArch::Deit => used.model.is_transformer(),
            TeacherArch::Convnet => !used.model.is_transformer(),
            TeacherArch::Regnety160 => false,
        };
        if !arch_fits {
            let arch = match t.arch {
                TeacherArch::Deit => "deit",
                TeacherArch::Convnet => "convnet",
                TeacherArch::Regnety160 => "regnety_160",
            };
            fail(
                format!(
                    "`distill.teacher.arch = {arch}`, but stage `{up}` trains {}",
                    kind(&used.model)
                ),
                "set `distill.teacher.arch` to the stage's model: `deit` for a transformer, `convnet` for a convnet",
                format!("trains {}", kind(&used.model)),
            );
        }
        if t.recipe.is_some() {
            fail(
                format!("both `distill.teacher.recipe` and stage `{up}` describe the teacher"),
                "`delete distill.teacher.recipe`: the stage's own recipe describes its model",
                "describes the teacher".into(),
            );
        }
        return out;
    }
    let Some(ft) = r.finetune.as_ref() else {
        return out;
    };
    let (a, b) = (&used.model, &r.model);
    if a.is_transformer() != b.is_transformer()
        || (a.embed, a.depth, a.heads, a.patch, a.channels)
            != (b.embed, b.depth, b.heads, b.patch, b.channels)
    {
        fail(
            format!("stage `{up}` trains another model than the one this stage fine-tunes"),
            "fine-tuning keeps the model: give both stages the same `model` (except `image` and `classes`)",
            format!(
                "trains {} (embed {}, depth {}, heads {}, patch {})",
                kind(a),
                a.embed,
                a.depth,
                a.heads,
                a.patch
            ),
        );
    }
    if a.image != b.image && ft.pos_embed == PosEmbedInterp::None {
        fail(
            format!(
                "stage `{up}` trains at {} px and this stage at {}, but `finetune.pos_embed = none`",
                a.image, b.image
            ),
            "set `finetune.pos_embed = bicubic` to interpolate the position embedding to the new grid",
            format!("trains at {} px", a.image),
        );
    }
    if let Some(from) = ft.from_image.filter(|i| *i != a.image) {
        fail(
            format!(
                "`finetune.from_image = {from}`, but stage `{up}` trains at {} px",
                a.image
            ),
            "`delete finetune.from_image`: a stage's image size is known",
            format!("trains at {} px", a.image),
        );
    }
    if a.classes != b.classes && ft.reset_head == crate::ir::HeadReset::Never {
        fail(
            format!(
                "stage `{up}` predicts {} classes and this stage {}, but `finetune.reset_head = never`",
                a.classes, b.classes
            ),
            "set `finetune.reset_head = auto` to start the heads afresh",
            format!("trains a {}-class model", a.classes),
        );
    }
    out
}
