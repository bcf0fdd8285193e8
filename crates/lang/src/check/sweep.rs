//! Sweeps: `sweep { optimizer.lr = [1e-3, 5e-4]  train.seed = [0, 1, 2] }` runs the recipe
//! once per point of the grid, the product of its lists; `zip { a = [..]  b = [..] }` inside
//! pairs lists element by element (one axis). `--sweep path=v1,v2` adds an axis from the
//! command line.
//!
//! The sweep is gathered while the tree is merged ([`Spec`]; a later file's swept field
//! replaces a base's, `delete sweep` drops it, a `--set` of a swept field pins it). Each
//! point is the merged tree with the swept fields set to the point's values, checked like
//! any recipe: its own resolved IR, hash and run directory
//! (`<train.output>/<name>/<point>/NNN`, the point named by its values: `lr=5e-4,seed=1`).
//! A diagnostic that only some points have is reported once, labelled with those points.

use super::tree::{block_path, resolve_field, Entry};
use super::{evaluate, inherit, schema, Checked, Env};
use crate::diag::{suggest, Diag, Diagnostics, ErrorKind, Label};
use crate::ir::Recipe;
use crate::source::{FileId, SourceKind, SourceMap, Span};
use crate::syntax::ast::{Block, Expr, ExprKind, Item, Path};
use std::collections::HashMap;

/// The block name: `sweep { … }`.
pub const KEYWORD: &str = "sweep";
/// The pairing block inside a sweep: `zip { … }`.
pub const ZIP: &str = "zip";
/// The most points one sweep may have.
pub const MAX_POINTS: usize = 1000;
/// The longest point name (a directory name); longer ones are cut and given a hash.
const MAX_NAME: usize = 120;

/// One swept field: `path = [v1, v2, …]`.
#[derive(Debug, Clone)]
pub struct Swept {
    pub path: &'static str,
    pub path_span: Span,
    pub values: Vec<Expr>,
    /// The list.
    pub list: Span,
}

/// One axis of the grid: a field, or the fields of a `zip` (equal lengths).
#[derive(Debug, Clone)]
pub struct Axis {
    pub fields: Vec<Swept>,
    /// The `zip` keyword, for a zip.
    pub zip: Option<Span>,
}

impl Axis {
    pub fn len(&self) -> usize {
        self.fields.first().map_or(0, |f| f.values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The merged sweep of a recipe (or stage).
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub axes: Vec<Axis>,
    /// The last `sweep` keyword written, for labels.
    pub span: Option<Span>,
}

impl Spec {
    pub fn is_empty(&self) -> bool {
        self.axes.is_empty()
    }

    /// The number of points (the product of the axes' lengths).
    pub fn count(&self) -> u128 {
        self.axes
            .iter()
            .map(|a| a.len() as u128)
            .fold(1u128, |n, l| n.saturating_mul(l))
    }

    /// Adds the fields of a `sweep { … }` block.
    pub fn add(&mut self, b: &Block, diags: &mut Diagnostics) {
        self.span = Some(b.name.span);
        let mut axes = Vec::new();
        let mut seen = HashMap::new();
        collect(&b.items, "", None, &mut axes, &mut seen, diags);
        for axis in axes {
            if repeats(&axis, diags) {
                continue;
            }
            self.push(axis);
        }
    }

    /// Adds an axis; a field it sweeps is taken out of the earlier axes.
    pub fn push(&mut self, axis: Axis) {
        for f in &axis.fields {
            for a in &mut self.axes {
                a.fields.retain(|g| g.path != f.path);
            }
        }
        self.axes.retain(|a| !a.fields.is_empty());
        self.axes.push(axis);
    }

    /// Takes out every swept field whose setting in `tree` comes from a `--set`: the
    /// command line pins it to one value.
    fn pin_overridden(&mut self, tree: &super::tree::Tree, map: &SourceMap) {
        let from_set = |p: &str| {
            tree.fields
                .get(p)
                .is_some_and(|e| matches!(map.file(e.span.file).kind, SourceKind::Cli(_)))
        };
        for a in &mut self.axes {
            a.fields.retain(|f| !from_set(f.path));
        }
        self.axes.retain(|a| !a.fields.is_empty());
    }

    /// The points in order (the first axis varies slowest): each the swept fields' values.
    fn points(&self) -> Vec<Vec<(&'static str, &Expr)>> {
        let mut out: Vec<Vec<(&'static str, &Expr)>> = vec![Vec::new()];
        for axis in &self.axes {
            let mut next = Vec::with_capacity(out.len() * axis.len());
            for p in &out {
                for i in 0..axis.len() {
                    let mut q = p.clone();
                    q.extend(axis.fields.iter().map(|f| (f.path, &f.values[i])));
                    next.push(q);
                }
            }
            out = next;
        }
        out
    }

    /// Each swept path's key in point names: its last part (`lr`), or the whole path where
    /// two swept fields share a last part.
    fn keys(&self) -> Vec<(&'static str, String)> {
        let paths: Vec<&'static str> = self
            .axes
            .iter()
            .flat_map(|a| a.fields.iter().map(|f| f.path))
            .collect();
        let last = |p: &str| p.rsplit('.').next().unwrap_or(p).to_string();
        paths
            .iter()
            .map(|p| {
                let shared = paths.iter().filter(|q| last(q) == last(p)).count() > 1;
                (*p, if shared { p.to_string() } else { last(p) })
            })
            .collect()
    }
}

/// Gathers the swept fields of `items` under `prefix` into axes (into `zip` when inside one).
fn collect(
    items: &[Item],
    prefix: &str,
    mut zip: Option<&mut Vec<Swept>>,
    axes: &mut Vec<Axis>,
    seen: &mut HashMap<&'static str, Span>,
    diags: &mut Diagnostics,
) {
    for item in items {
        match item {
            Item::Field(f) => {
                let Some(path) = resolve_field(prefix, &f.path, diags) else {
                    continue;
                };
                if let Some(first) = seen.insert(path, f.path.span) {
                    diags.push(
                        Diag::error(
                            ErrorKind::DuplicateField {
                                path: path.to_string(),
                            },
                            f.path.span,
                        )
                        .with_secondary(first, "first set here"),
                    );
                    continue;
                }
                let Some(s) = swept(path, f.path.span, &f.value, diags) else {
                    continue;
                };
                match zip.as_deref_mut() {
                    Some(z) => z.push(s),
                    None => axes.push(Axis {
                        fields: vec![s],
                        zip: None,
                    }),
                }
            }
            Item::Block(b) if b.name.name == ZIP => {
                if zip.is_some() {
                    let what = "a `zip` inside a `zip`".to_string();
                    diags.push(Diag::error(ErrorKind::SweepItem { what }, b.name.span));
                    continue;
                }
                let mut fields = Vec::new();
                collect(&b.items, prefix, Some(&mut fields), axes, seen, diags);
                if let Some(first) = fields.first() {
                    let mut ok = true;
                    for f in &fields[1..] {
                        if f.values.len() != first.values.len() {
                            ok = false;
                            diags.push(
                                Diag::error(
                                    ErrorKind::SweepZipLength {
                                        path: f.path.into(),
                                        len: f.values.len(),
                                        first: first.path.into(),
                                        first_len: first.values.len(),
                                    },
                                    f.list,
                                )
                                .with_secondary(
                                    first.list,
                                    crate::diag::plural(first.values.len(), "value"),
                                ),
                            );
                        }
                    }
                    if ok {
                        axes.push(Axis {
                            fields,
                            zip: Some(b.name.span),
                        });
                    }
                }
            }
            Item::Block(b) if b.name.name == KEYWORD => {
                let what = "a `sweep` inside a `sweep`".to_string();
                diags.push(Diag::error(ErrorKind::SweepItem { what }, b.name.span));
            }
            Item::Block(b) => {
                if let Some(block) = block_path(prefix, &b.name.name) {
                    collect(&b.items, block, zip.as_deref_mut(), axes, seen, diags);
                } else {
                    // Reports the unknown name (with a suggestion), or a field used as a block.
                    let path = Path {
                        parts: vec![b.name.clone()],
                        span: b.name.span,
                    };
                    if let Some(field) = resolve_field(prefix, &path, diags) {
                        diags.push(Diag::error(
                            ErrorKind::NotABlock {
                                path: field.to_string(),
                            },
                            b.name.span,
                        ));
                    }
                }
            }
            Item::Delete(d) => {
                let what = "`delete`".to_string();
                diags.push(Diag::error(ErrorKind::SweepItem { what }, d.span));
            }
            Item::Stage(s) => {
                let what = "a stage".to_string();
                diags.push(Diag::error(ErrorKind::SweepItem { what }, s.name.span));
            }
        }
    }
}

/// The swept field `path = value`, when `value` is a non-empty list.
fn swept(
    path: &'static str,
    path_span: Span,
    value: &Expr,
    diags: &mut Diagnostics,
) -> Option<Swept> {
    let ExprKind::List(values) = &value.kind else {
        diags.push(Diag::error(
            ErrorKind::SweepNotAList { path: path.into() },
            value.span,
        ));
        return None;
    };
    if values.is_empty() {
        diags.push(Diag::error(
            ErrorKind::SweepEmpty { path: path.into() },
            value.span,
        ));
        return None;
    }
    Some(Swept {
        path,
        path_span,
        values: values.clone(),
        list: value.span,
    })
}

/// Whether an axis gives one point twice: a value listed twice, or in a `zip` the same
/// values twice (`deit::sweep::duplicate_value`, reported).
fn repeats(axis: &Axis, diags: &mut Diagnostics) -> bool {
    let tuple =
        |i: usize| -> Vec<String> { axis.fields.iter().map(|f| written(&f.values[i])).collect() };
    for i in 0..axis.len() {
        if let Some(j) = (0..i).find(|&j| tuple(j) == tuple(i)) {
            let Some(f) = axis.fields.first() else {
                return false;
            };
            let value = if axis.fields.len() == 1 {
                written(&f.values[i])
            } else {
                format!("({})", tuple(i).join(", "))
            };
            let path = if axis.fields.len() == 1 {
                f.path.to_string()
            } else {
                format!(
                    "zip({})",
                    axis.fields
                        .iter()
                        .map(|f| f.path)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            diags.push(
                Diag::error(
                    ErrorKind::SweepDuplicateValue { path, value },
                    f.values[i].span,
                )
                .with_secondary(f.values[j].span, "first listed here"),
            );
            return true;
        }
    }
    false
}

/// A value as written (a string without its quotes).
fn written(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => s.clone(),
        _ => crate::syntax::format::expr(e),
    }
}

/// A value as it may appear in a directory name: letters, digits and `.-+_`; anything
/// else becomes `_`.
fn dir_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Registers each `--sweep` text as a source `<cli:N>` (numbered after the `--set`s).
pub fn add_sources(map: &mut SourceMap, sweeps: &[String], after: usize) -> Vec<FileId> {
    sweeps
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let n = after + i + 1;
            map.add(format!("<cli:{n}>"), text.clone(), SourceKind::Cli(n))
        })
        .collect()
}

/// The scope of `--sweep` in a pipeline: the stage being loaded and all stage names.
pub struct Scope<'a> {
    pub stage: &'a str,
    pub all: &'a [String],
}

/// Applies the `--sweep` arguments to `spec`, first pinning the fields a `--set` sets. In a
/// pipeline (`scope`), `<stage>.a.b=…` sweeps that stage only; a `--sweep` that names no
/// stage is an error, reported once (by the first stage, `report`).
pub fn apply_cli(
    map: &SourceMap,
    tree: &mut super::tree::Tree,
    files: &[FileId],
    scope: Option<&Scope<'_>>,
    report: bool,
    diags: &mut Diagnostics,
) {
    let mut spec = std::mem::take(&mut tree.sweep);
    spec.pin_overridden(tree, map);
    tree.sweep = spec;
    let mut seen = HashMap::new();
    for file in files {
        let mut o = match crate::syntax::parse_sweep(map, *file) {
            Ok(o) => o,
            Err(d) => {
                if report {
                    diags.push(*d);
                }
                continue;
            }
        };
        if let Some(scope) = scope {
            let first = o.path.parts.first().map(|p| p.name.clone());
            match first.filter(|f| scope.all.contains(f)) {
                Some(target) if o.path.parts.len() >= 2 => {
                    if target != scope.stage {
                        continue;
                    }
                    o.path.parts.remove(0);
                    if let Some(p) = o.path.parts.first() {
                        o.path.span.start = p.span.start;
                    }
                }
                _ => {
                    if report {
                        diags.push(Diag::error(
                            ErrorKind::SweepPipeline {
                                stages: scope.all.to_vec(),
                                cli: true,
                            },
                            o.path.span,
                        ));
                    }
                    continue;
                }
            }
        }
        let mut local = Diagnostics::default();
        if let Some(path) = resolve_field("", &o.path, &mut local) {
            if let Some(first) = seen.insert(path, o.path.span) {
                local.push(
                    Diag::error(
                        ErrorKind::DuplicateField {
                            path: path.to_string(),
                        },
                        o.path.span,
                    )
                    .with_secondary(first, "first set here"),
                );
            } else if let Some(s) = swept(path, o.path.span, &o.value, &mut local) {
                let axis = Axis {
                    fields: vec![s],
                    zip: None,
                };
                if !repeats(&axis, &mut local) {
                    if tree.sweep.span.is_none() {
                        tree.sweep.span = Some(o.path.span);
                    }
                    tree.sweep.push(axis);
                }
            }
        }
        diags.extend(local.items);
    }
}

/// A checked sweep: every point's values and resolved recipe.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The name of the recipe (or stage) swept; the points' runs go under
    /// `<train.output>/<name>/<point>/`.
    pub name: String,
    /// The swept paths, in the order of the point names, with their keys there.
    pub axes: Vec<(String, String)>,
    /// The length of each axis of the grid (a `zip` is one axis).
    pub shape: Vec<usize>,
    /// The paths of each axis (several for a `zip`).
    pub grid: Vec<Vec<String>>,
    pub points: Vec<Point>,
    /// The points `--point` picked (every point without it), in order.
    pub selected: Vec<usize>,
    /// The `sweep` keyword (or the first `--sweep`).
    pub span: Option<Span>,
}

/// One point of a sweep.
#[derive(Debug, Clone)]
pub struct Point {
    /// Its run directory's name: `lr=5e-4,seed=1`.
    pub name: String,
    /// Each swept path with its value as written.
    pub values: Vec<(String, String)>,
    /// Its resolved recipe, when it checked.
    pub recipe: Option<Recipe>,
}

impl Sweep {
    /// The selected points' recipes (those that checked).
    pub fn selected_recipes(&self) -> impl Iterator<Item = (&Point, &Recipe)> {
        self.selected
            .iter()
            .filter_map(|&i| self.points.get(i))
            .filter_map(|p| p.recipe.as_ref().map(|r| (p, r)))
    }
}

/// Checks every point of `loaded`'s sweep and returns the first selected point's check,
/// carrying every point's diagnostics (merged) and the whole [`Sweep`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_points(
    mut map: SourceMap,
    diags: Diagnostics,
    loaded: &inherit::Loaded,
    name: String,
    stages: &[String],
    env: Env<'_>,
    wanted: &[String],
) -> Checked {
    let spec = &loaded.tree.sweep;
    let mut diags = diags;
    let count = spec.count();
    if count > MAX_POINTS as u128 {
        let kind = ErrorKind::SweepTooMany {
            points: count,
            max: MAX_POINTS,
        };
        diags.push(match spec.span {
            Some(s) => Diag::error(kind, s),
            None => Diag::global(kind),
        });
    }
    // Errors in the sweep itself (or before it): the plain check reports the rest.
    if diags.has_errors() {
        let mut plain = loaded.clone();
        plain.tree.sweep = Spec::default();
        return evaluate(map, diags, &plain, name, stages, env);
    }
    let keys = spec.keys();
    let key_of = |p: &str| {
        keys.iter()
            .find(|(q, _)| *q == p)
            .map_or(p.to_string(), |(_, k)| k.clone())
    };
    let mut used_names: Vec<String> = Vec::new();
    let mut points = Vec::new();
    let mut checks = Vec::new();
    for values in spec.points() {
        let pname = unique(point_name(&values, &key_of), &used_names);
        used_names.push(pname.clone());
        let mut l = loaded.clone();
        l.tree.sweep = Spec::default();
        for (path, e) in &values {
            let replaced = l.tree.fields.get(path).map(|old| old.span);
            l.tree.open(schema::parent(path), e.span);
            l.tree.fields.insert(
                path,
                Entry {
                    expr: (*e).clone(),
                    span: e.span,
                    replaced,
                },
            );
        }
        let mut c = evaluate(
            map,
            Diagnostics::default(),
            &l,
            format!("{name}/{pname}"),
            stages,
            env,
        );
        map = std::mem::replace(&mut c.map, SourceMap::new());
        points.push(Point {
            name: pname,
            values: values
                .iter()
                .map(|(p, e)| (p.to_string(), written(e)))
                .collect(),
            recipe: c.recipe.clone(),
        });
        checks.push(c);
    }
    // `--point` narrows what is reported to the points it picks (all without it).
    let selected = select(&points, &keys, wanted, &mut diags);
    // Diagnostics: once each, labelled with the points that have it when not all do.
    let mut merged: Vec<(Diag, Vec<usize>)> = Vec::new();
    for (i, c) in checks.iter_mut().enumerate() {
        if !wanted.is_empty() && !selected.contains(&i) {
            continue;
        }
        for d in std::mem::take(&mut c.diags.items) {
            match merged.iter_mut().find(|(e, _)| *e == d) {
                Some((_, at)) => at.push(i),
                None => merged.push((d, vec![i])),
            }
        }
    }
    let anchor = spec.span.or_else(|| {
        spec.axes
            .first()
            .and_then(|a| a.fields.first())
            .map(|f| f.list)
    });
    for (mut d, at) in merged {
        if at.len() < points.len() {
            let names: Vec<String> = at.iter().map(|&i| points[i].name.clone()).collect();
            let text = match names.as_slice() {
                [one] => format!("in sweep point `{one}`"),
                _ => format!(
                    "in {} of {} sweep points: {}",
                    names.len(),
                    points.len(),
                    few(&names)
                ),
            };
            if let Some(s) = anchor {
                d.secondary.push(Label::new(s, text));
            }
        }
        diags.push(d);
    }
    let first = selected.first().copied().unwrap_or(0);
    let mut out = if checks.is_empty() {
        let mut plain = loaded.clone();
        plain.tree.sweep = Spec::default();
        evaluate(
            map,
            Diagnostics::default(),
            &plain,
            name.clone(),
            stages,
            env,
        )
    } else {
        let mut c = checks.swap_remove(first);
        c.map = map;
        c
    };
    out.diags = diags.sorted();
    out.sweep = Some(Sweep {
        name,
        axes: keys
            .iter()
            .map(|(p, k)| (p.to_string(), k.clone()))
            .collect(),
        shape: spec.axes.iter().map(Axis::len).collect(),
        grid: spec
            .axes
            .iter()
            .map(|a| a.fields.iter().map(|f| f.path.to_string()).collect())
            .collect(),
        points,
        selected,
        span: spec.span,
    });
    out
}

/// `lr=5e-4,seed=1`, at most [`MAX_NAME`] bytes.
fn point_name(values: &[(&'static str, &Expr)], key_of: &dyn Fn(&str) -> String) -> String {
    let name = values
        .iter()
        .map(|(p, e)| format!("{}={}", key_of(p), dir_safe(&written(e))))
        .collect::<Vec<_>>()
        .join(",");
    if name.len() <= MAX_NAME {
        return name;
    }
    let mut cut = MAX_NAME - 17;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = fnv1a(&name);
    format!("{}~{hash:016x}", &name[..cut])
}

/// FNV-1a 64 of `text`: tells cut point names apart.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `name`, or `name~2`, `name~3`, … when taken.
fn unique(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|n| format!("{name}~{n}"))
        .find(|n| !taken.contains(n))
        .unwrap_or(name)
}

/// Up to three names in backticks, and how many more.
fn few(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(3).map(|n| format!("`{n}`")).collect();
    match names.len().saturating_sub(3) {
        0 => shown.join(", "),
        more => format!("{}, … ({more} more)", shown.join(", ")),
    }
}

/// The points `--point k=v,…` picks (all of them without `--point`); an error when a key
/// is not swept or no point has the values.
fn select(
    points: &[Point],
    keys: &[(&'static str, String)],
    wanted: &[String],
    diags: &mut Diagnostics,
) -> Vec<usize> {
    let all: Vec<usize> = (0..points.len()).collect();
    if wanted.is_empty() {
        return all;
    }
    let text = wanted.join(",");
    let mut pairs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            diags.push(Diag::global(ErrorKind::NoSuchPoint {
                wanted: text.clone(),
                message: format!("`{part}` is not `key=value`"),
                points: points.iter().map(|p| p.name.clone()).collect(),
                suggestion: None,
            }));
            return Vec::new();
        };
        let (k, v) = (k.trim(), v.trim());
        let Some((path, _)) = keys
            .iter()
            .find(|(p, key)| key == k || *p == k || p.rsplit('.').next() == Some(k))
        else {
            let suggestion = suggest(k, keys.iter().map(|(_, key)| key.as_str()));
            diags.push(Diag::global(ErrorKind::NoSuchPoint {
                wanted: text.clone(),
                message: format!(
                    "`{k}` is not swept (the swept keys are {})",
                    keys.iter()
                        .map(|(_, key)| format!("`{key}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                points: points.iter().map(|p| p.name.clone()).collect(),
                suggestion,
            }));
            return Vec::new();
        };
        pairs.push((*path, v.to_string()));
    }
    let same = |a: &str, b: &str| {
        a == b
            || dir_safe(a) == b
            || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
    };
    let found: Vec<usize> = all
        .into_iter()
        .filter(|&i| {
            pairs.iter().all(|(path, v)| {
                points[i]
                    .values
                    .iter()
                    .any(|(p, w)| p == path && same(w, v))
            })
        })
        .collect();
    if found.is_empty() {
        let names: Vec<String> = points.iter().map(|p| p.name.clone()).collect();
        let suggestion = suggest(&text, names.iter().map(String::as_str));
        diags.push(Diag::global(ErrorKind::NoSuchPoint {
            wanted: text.clone(),
            message: "no point of the sweep has these values".into(),
            points: names,
            suggestion,
        }));
    }
    found
}
