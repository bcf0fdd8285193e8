//! Checking: from a recipe path and `--set` overrides to a typed `ir::Recipe`, collecting
//! every diagnostic on the way.
//!
//! `inherit` loads the file and its bases into a `tree` (the merged settings), `eval`
//! evaluates each schema field (references, arithmetic, defaults), `typing` checks it
//! against the `schema`, `build` assembles the IR, and `rules` checks cross-field
//! constraints. `cost` prints what the model will cost.

mod build;
pub mod cost;
pub mod dataset;
pub(crate) mod eval;
pub(crate) mod inherit;
pub mod pipeline;
mod rules;
pub mod schema;
pub mod sweep;
pub(crate) mod tree;
mod typing;
pub(crate) mod value;

pub use inherit::{normalize as normalize_path, read_source};
pub use rules::Facts;
pub use value::show_f64;

use crate::diag::{Diag, Diagnostics, ErrorKind, Severity};
use crate::ir::{Named, Recipe, Shape};
use crate::source::{SourceMap, Span};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What the checker is told about the build that will run the recipe: facts passed in as
/// data by whoever calls it (the command line knows its graphs and features), so that the
/// language never asks the back end.
#[derive(Debug, Clone, Default)]
pub struct BuildFacts {
    /// The model shapes this build has a graph for; `None` when unknown (no shape lint).
    pub graphs: Option<Vec<Named>>,
    /// Whether this build can run on CUDA; `None` when unknown.
    pub cuda: Option<bool>,
    /// The device the command will run on when the command line overrides `train.device`
    /// (`deitc run --device cpu`); `None`: the recipe's own. The trainability lints speak
    /// of the device the run will use.
    pub device: Option<crate::ir::Device>,
}

/// The context of one check: the build, and the recipes whose teacher this one is (to stop
/// a teacher recipe that names itself).
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub build: &'a BuildFacts,
    pub teacher_of: &'a [PathBuf],
}

/// Everything `check` learnt about a recipe.
#[derive(Debug)]
pub struct Checked {
    pub map: SourceMap,
    pub diags: Diagnostics,
    /// The resolved recipe, when there were no errors.
    pub recipe: Option<Recipe>,
    /// Where each set field's value was written (fields not listed are defaults).
    pub origins: BTreeMap<&'static str, Span>,
    /// Fields whose value was computed, with the expression (`5e-4 * train.batch / 512`).
    pub formulas: BTreeMap<&'static str, String>,
    pub facts: Option<Facts>,
    /// The sweep, when the recipe has one: every point's values and recipe (`recipe` is
    /// then the first point `--point` picked).
    pub sweep: Option<sweep::Sweep>,
}

/// What a command asks to check besides the recipe's path: the stage of a pipeline, the
/// `--set` overrides, the `--sweep` axes and the `--point` picked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub stage: Option<&'a str>,
    pub overrides: &'a [String],
    pub sweeps: &'a [String],
    pub points: &'a [String],
}

impl Checked {
    pub fn ok(&self) -> bool {
        !self.diags.has_errors() && self.recipe.is_some()
    }
}

/// Checks the recipe at `path` with `overrides` (`a.b=v` strings) applied on top. A
/// pipeline is checked whole and its last stage returned (see [`check_stage`]).
pub fn check(path: &Path, overrides: &[String], build: &BuildFacts) -> Checked {
    check_stage(path, None, overrides, build)
}

/// Checks the recipe at `path`; for a pipeline, checks every stage and returns `stage` (by
/// default the last) with the whole pipeline's diagnostics.
pub fn check_stage(
    path: &Path,
    stage: Option<&str>,
    overrides: &[String],
    build: &BuildFacts,
) -> Checked {
    let req = Request {
        stage,
        overrides,
        ..Request::default()
    };
    check_request(path, &req, build)
}

/// Checks the recipe at `path` as `req` asks (see [`check_stage`]); a sweep is checked
/// point by point.
pub fn check_request(path: &Path, req: &Request<'_>, build: &BuildFacts) -> Checked {
    let env = Env {
        build,
        teacher_of: &[],
    };
    check_in(path, req, env)
}

fn check_in(path: &Path, req: &Request<'_>, env: Env<'_>) -> Checked {
    if let Some(p) = pipeline::check_in(path, req, env) {
        return p.select(req.stage);
    }
    let mut map = SourceMap::new();
    let mut diags = Diagnostics::default();
    let mut loaded = inherit::load(&mut map, path, req.overrides, &mut diags);
    let files = sweep::add_sources(&mut map, req.sweeps, req.overrides.len());
    sweep::apply_cli(&map, &mut loaded.tree, &files, None, true, &mut diags);
    if let Some(name) = req.stage {
        diags.push(Diag::global(ErrorKind::NoSuchStage {
            name: name.into(),
            stages: Vec::new(),
            suggestion: None,
        }));
    }
    let name = path
        .file_stem()
        .map_or("recipe".into(), |s| s.to_string_lossy().into_owned());
    if !loaded.tree.sweep.is_empty() {
        return sweep::evaluate_points(map, diags, &loaded, name, &[], env, req.points);
    }
    if !req.points.is_empty() {
        diags.push(Diag::global(ErrorKind::NotASweep {
            wanted: req.points.join(","),
        }));
    }
    evaluate(map, diags, &loaded, name, &[], env)
}

/// Evaluates, types and builds one loaded recipe (a file, or one stage of a pipeline whose
/// stages are `stages`).
fn evaluate(
    map: SourceMap,
    diags: Diagnostics,
    loaded: &inherit::Loaded,
    name: String,
    stages: &[String],
    env: Env<'_>,
) -> Checked {
    let mut out = Checked {
        map,
        diags,
        recipe: None,
        origins: BTreeMap::new(),
        formulas: BTreeMap::new(),
        facts: None,
        sweep: None,
    };
    if loaded.root.is_none() || out.diags.items.iter().any(is_fatal) {
        return finish(out, loaded);
    }
    let tree = &loaded.tree;
    let present = |b: &str| tree.block_present(b);
    let in_present_block =
        |f: &schema::Field| schema::optional_ancestor(f.path).is_none_or(|b| present(b.path));

    let mut vals: HashMap<&'static str, value::Val> = HashMap::new();
    let mut failed = false;
    {
        let mut ev = eval::Evaluator::new(&mut out.map, tree, &mut out.diags);
        ev.stages = stages;
        // A convnet needs none of the transformer's required dimensions.
        let convnet = matches!(
            tree.fields.get("model.family").map(|e| &e.expr.kind),
            Some(crate::syntax::ast::ExprKind::Symbol(name)) if name == "convnet"
        );
        for f in schema::FIELDS.iter().filter(|f| in_present_block(f)) {
            if convnet && TRANSFORMER_ONLY.contains(&f.path) && !tree.fields.contains_key(f.path) {
                continue;
            }
            if f.default.is_none() && !tree.fields.contains_key(f.path) {
                let block = schema::parent(f.path);
                let deleted = tree
                    .deleted
                    .iter()
                    .find(|(p, _)| f.path == **p || f.path.starts_with(&format!("{p}.")));
                let span = match deleted {
                    Some((_, s)) => Some(*s),
                    None => tree.opened.get(block).or(tree.blocks.get(block)).copied(),
                };
                let kind = ErrorKind::MissingField {
                    path: f.path.into(),
                    example: example(f.path).into(),
                };
                ev.diags.push(match span {
                    Some(s) if deleted.is_some() => Diag::error(kind, s).with_label("removed here"),
                    Some(s) => Diag::error(kind, s),
                    None => Diag::global(kind),
                });
                failed = true;
                continue;
            }
            let Some(v) = ev.field(f.path) else {
                failed = true;
                continue;
            };
            match typing::coerce(f.path, &f.ty, &v) {
                Ok(val) => {
                    vals.insert(f.path, val);
                }
                Err(d) => {
                    ev.diags.push(*d);
                    failed = true;
                }
            }
        }
    }
    let mut spans: HashMap<&'static str, Span> = HashMap::new();
    for (p, e) in &tree.fields {
        spans.insert(p, e.expr.span);
        out.origins.insert(p, e.span);
    }
    for f in schema::FIELDS.iter().filter(|f| in_present_block(f)) {
        let formula = match tree.fields.get(f.path) {
            Some(e) if is_formula(&e.expr) => Some(crate::syntax::format::expr(&e.expr)),
            Some(_) => None,
            None => f
                .default
                .filter(|d| d.contains(['*', '/', '+']) || d.contains("train."))
                .map(str::to_string),
        };
        if let Some(text) = formula {
            out.formulas.insert(f.path, text);
        }
    }
    for (b, s) in tree.opened.iter().chain(tree.blocks.iter()) {
        spans.entry(b).or_insert(*s);
    }
    for (b, s) in &tree.blocks {
        out.origins.insert(b, *s);
    }
    if failed || out.diags.has_errors() {
        return finish(out, loaded);
    }

    let values = build::Values {
        vals: &vals,
        present: &present,
    };
    let source = |p: &str| match vals.get(p) {
        Some(value::Val::Source(s)) => Some(crate::query::overlay::dataset_facts(s)),
        _ => None,
    };
    let facts = Facts {
        train: source("data.train").unwrap_or_default(),
        val: source("data.val").unwrap_or_default(),
    };
    let declared = match vals.get("data.classes") {
        Some(value::Val::Int(i)) => Some(*i as usize),
        _ => None,
    };
    let Some(classes) = declared.or(facts.train.classes) else {
        // A train source that cannot be loaded says why its classes are unknown.
        if facts.train.unusable.is_none() {
            let d = match spans.get("data.train") {
                Some(s) => Diag::error(ErrorKind::ClassesUnknown, *s),
                None => Diag::global(ErrorKind::ClassesUnknown),
            };
            out.diags.push(d);
        }
        out.diags.extend(rules_without_recipe(&facts, &spans));
        return finish(out, loaded);
    };
    out.recipe = build::build(&name, &values, &build::Classes { data: classes });
    if out.recipe.is_none() {
        let message = "typed values do not fit the IR".to_string();
        out.diags
            .push(Diag::global(ErrorKind::Internal { message }));
    }
    if let Some(r) = &out.recipe {
        out.diags
            .extend(rules::check(r, &facts, &rules::Spans { of: &spans }));
    }
    if let Some(r) = &mut out.recipe {
        if let Some(d) = resolve_teacher(r, &spans, env) {
            out.diags.push(d);
        }
    }
    // Only for an otherwise valid recipe: next to an error it is noise.
    if let (Some(r), false) = (&out.recipe, out.diags.has_errors()) {
        if let Some(d) = shape_lint(r, &spans, env.build) {
            out.diags.push(d);
        }
        out.diags.extend(rules::trainability(
            r,
            env.build,
            &rules::Spans { of: &spans },
        ));
    }
    out.facts = Some(facts);
    finish(out, loaded)
}

/// A warning when the build has no graph for the recipe's model shape (`deitc run` then
/// builds one), naming the nearest shapes it has.
fn shape_lint(r: &Recipe, spans: &HashMap<&'static str, Span>, build: &BuildFacts) -> Option<Diag> {
    let graphs = build.graphs.as_deref()?;
    let shape = Shape::of(&r.model);
    if graphs.iter().any(|g| g.shape == shape) {
        return None;
    }
    let kind = ErrorKind::ShapeNotCompiled {
        shape: shape.to_string(),
        nearest: shape
            .nearest(graphs, 3)
            .iter()
            .map(|n| n.to_string())
            .collect(),
    };
    let mut d = match spans.get("model") {
        Some(s) => Diag::error(kind, *s),
        None => Diag::global(kind),
    };
    d.severity = Severity::Warning;
    Some(d)
}

/// Checks the recipe `distill.teacher.recipe` names (as a path from the working directory)
/// and keeps it in the IR, so the trainer never checks a recipe itself. An error, at that
/// field, when it does not check or names a recipe that is already being checked as a
/// teacher's.
fn resolve_teacher(
    r: &mut Recipe,
    spans: &HashMap<&'static str, Span>,
    env: Env<'_>,
) -> Option<Diag> {
    let t = r.distill.teacher.as_mut()?;
    if t.stage.is_some() {
        return None;
    }
    let path = t.recipe.clone()?;
    let at = |kind: ErrorKind| match spans.get("distill.teacher.recipe") {
        Some(s) => Diag::error(kind, *s),
        None => Diag::global(kind),
    };
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(&path));
    if env.teacher_of.contains(&canonical) {
        return Some(at(ErrorKind::TeacherRecipe {
            path,
            errors: 0,
            cycle: true,
        }));
    }
    let mut chain = env.teacher_of.to_vec();
    chain.push(canonical);
    let inner = Env {
        build: env.build,
        teacher_of: &chain,
    };
    let checked = check_in(Path::new(&path), &Request::default(), inner);
    match checked.recipe {
        Some(tr) if !checked.diags.has_errors() => {
            t.resolved = Some(Box::new(tr));
            None
        }
        _ => Some(at(ErrorKind::TeacherRecipe {
            path,
            errors: checked.diags.error_count(),
            cycle: false,
        })),
    }
}

/// Missing data paths, and data that is here but cannot be loaded (an empty class folder),
/// are worth reporting even when classes are unknown.
fn rules_without_recipe(facts: &Facts, spans: &HashMap<&'static str, Span>) -> Vec<Diag> {
    [("data.train", &facts.train), ("data.val", &facts.val)]
        .into_iter()
        .flat_map(|(p, f)| {
            let missing = f
                .missing
                .clone()
                .map(|path| ErrorKind::DataNotFound { path });
            let unusable = f
                .unusable
                .clone()
                .map(|message| ErrorKind::SourceLayout { message });
            missing.into_iter().chain(unusable).map(move |kind| {
                spans.get(p).map_or_else(
                    || Diag::global(kind.clone()),
                    |s| Diag::error(kind.clone(), *s),
                )
            })
        })
        .collect()
}

/// Whether a value is computed (a reference or arithmetic) rather than written literally.
fn is_formula(e: &crate::syntax::ast::Expr) -> bool {
    use crate::syntax::ast::ExprKind as K;
    match &e.kind {
        K::Ref(_) | K::Binary(..) => true,
        K::Paren(inner) | K::Neg(inner) => is_formula(inner),
        K::Quantity { value, .. } => is_formula(value),
        K::Range(a, b) => is_formula(a) || is_formula(b),
        K::List(items) => items.iter().any(is_formula),
        _ => false,
    }
}

fn is_fatal(d: &Diag) -> bool {
    d.code().is_fatal()
}

/// Adds "inherited" and "overrides" notes, drops errors inside built-in defaults that only
/// follow from an error in the user's own text, then sorts.
fn finish(mut out: Checked, loaded: &inherit::Loaded) -> Checked {
    let in_default = |d: &Diag, map: &SourceMap| {
        d.span()
            .is_some_and(|s| matches!(map.file(s.file).kind, crate::source::SourceKind::Default))
    };
    if out
        .diags
        .items
        .iter()
        .any(|d| d.is_error() && !in_default(d, &out.map))
    {
        let map = &out.map;
        out.diags.items.retain(|d| !in_default(d, map));
    }
    let mut seen = HashSet::new();
    for d in &mut out.diags.items {
        let Some(primary) = d.span() else { continue };
        // A value from a base file: point at the `extends` in the recipe being checked.
        if let Some(mut site) = loaded.extended_from.get(&primary.file).copied() {
            while let Some(up) = loaded.extended_from.get(&site.file) {
                site = *up;
            }
            let base = out.map.name(primary.file).to_string();
            d.secondary.push(crate::diag::Label::new(
                site,
                format!("inherited from `{base}` through this `extends`"),
            ));
        }
        // A `--set` or later file replacing a value: show what it replaced.
        for e in loaded.tree.fields.values() {
            let inside = e.expr.span.file == primary.file
                && e.expr.span.start <= primary.start
                && primary.end <= e.expr.span.end;
            if let (true, Some(old)) = (inside, e.replaced) {
                if seen.insert((primary, old)) {
                    d.secondary
                        .push(crate::diag::Label::new(old, "overrides the value set here"));
                }
            }
        }
    }
    out.diags = std::mem::take(&mut out.diags).sorted();
    out
}

/// Required fields of a transformer that a `convnet` model does without.
const TRANSFORMER_ONLY: [&str; 3] = ["model.embed", "model.depth", "model.heads"];

/// A value to suggest for a required field.
fn example(path: &str) -> &'static str {
    match path {
        "model.embed" => "192",
        "model.depth" => "12",
        "model.heads" => "3",
        "data.train" => "image_folder(\"path/to/train\")",
        "data.val" => "image_folder(\"path/to/val\")",
        "distill.teacher.arch" => "regnety_160",
        "distill.teacher.checkpoint" => "\"teacher.safetensors\"",
        "finetune.from" => "\"checkpoint.safetensors\"",
        _ => "…",
    }
}
