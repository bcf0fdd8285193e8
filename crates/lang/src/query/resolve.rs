//! Every field of a recipe as the checker resolves it, with where it was set: the
//! provenance `deitc explain` prints, kept as spans for an editor (hover, go to definition).
//! A pipeline has one [`Scope`] per stage.

use crate::check::eval::Evaluator;
use crate::check::inherit::{self, Loaded, StageScope};
use crate::check::schema;
use crate::check::value::Val;
use crate::diag::Diagnostics;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{Expr, ExprKind};
use crate::syntax::{format, parse_recipe};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A recipe resolved for queries: its sources and one scope per stage (one for a recipe).
#[derive(Debug, Default)]
pub struct Resolution {
    /// Every text read: the recipe, its bases, the defaults evaluated.
    pub map: SourceMap,
    /// The recipe itself, when it could be read.
    pub root: Option<FileId>,
    pub scopes: Vec<Scope>,
}

/// One recipe's (or one stage's) merged settings.
#[derive(Debug, Default)]
pub struct Scope {
    /// The stage's name and where it is declared; `None` for a plain recipe.
    pub stage: Option<(String, Span)>,
    /// Every field of a block that is present, set or defaulted.
    pub fields: BTreeMap<&'static str, FieldInfo>,
    /// Optional blocks present, at the statement that opened them.
    pub blocks: BTreeMap<&'static str, Span>,
    /// For each base file, the `extends` that pulled it in.
    pub extended_from: HashMap<FileId, Span>,
}

/// A field's resolved value and its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// The value as a recipe would write it (`None` when it does not evaluate).
    pub value: Option<String>,
    /// Where it was set; `None`: the schema's default.
    pub set: Option<Setting>,
    /// The expression when the value is computed (`5e-4 * train.batch / 512`).
    pub formula: Option<String>,
}

/// The statement that sets a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// `path = expr`, whole.
    pub statement: Span,
    pub expr: Span,
    /// The statement this one replaced (in a base, or earlier in the file).
    pub replaced: Option<Span>,
}

impl Resolution {
    /// The scope for a position in the root file: the stage containing `offset`, else the
    /// last stage (what `check` reports on), else the recipe's one scope.
    pub fn scope_at(&self, offset: usize) -> Option<&Scope> {
        let root = self.root?;
        let inside = self.scopes.iter().find(|s| {
            s.stage.as_ref().is_some_and(|(_, span)| {
                span.file == root && self.stage_range(span).contains(&offset)
            })
        });
        inside.or(self.scopes.last())
    }

    /// From a stage's name to the end of its `{ … }` block (found by matching braces).
    fn stage_range(&self, name: &Span) -> std::ops::Range<usize> {
        let text = self.map.text(name.file);
        let start = name.start as usize;
        let mut depth = 0usize;
        let mut end = text.len();
        for (i, b) in text.bytes().enumerate().skip(start) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        start..end
    }
}

/// Resolves the recipe at `path` (through the current overlay, see
/// [`super::with_overlay`]). Errors are not reported: `check` does that; a field that does
/// not evaluate has no value.
pub fn resolve(path: &Path) -> Resolution {
    let mut map = SourceMap::new();
    let mut diags = Diagnostics::default();
    let root = inherit::read_source(&mut map, path, None).ok();
    let file = root.and_then(|r| parse_recipe(&map, r).ok());
    let mut out = Resolution::default();
    match (root, file) {
        (Some(id), Some(file)) if file.stages().next().is_some() => {
            let names: Vec<String> = file.stages().map(|s| s.name.name.clone()).collect();
            let mut scopes = Vec::new();
            for s in file.stages() {
                let pipeline = inherit::Pipeline {
                    path,
                    id,
                    ast: &file,
                };
                let stage = StageScope {
                    name: &s.name.name,
                    all: &names,
                };
                let loaded = inherit::load_stage(&mut map, &pipeline, s, &[], &stage, &mut diags);
                let mut scope = evaluate(&mut map, &loaded, &names);
                scope.stage = Some((s.name.name.clone(), s.name.span));
                scopes.push(scope);
            }
            out.root = Some(id);
            out.scopes = scopes;
        }
        _ => {
            map = SourceMap::new();
            let loaded = inherit::load(&mut map, path, &[], &mut diags);
            out.root = loaded.root;
            if loaded.root.is_some() {
                out.scopes.push(evaluate(&mut map, &loaded, &[]));
            }
        }
    }
    out.map = map;
    out
}

fn evaluate(map: &mut SourceMap, loaded: &Loaded, stages: &[String]) -> Scope {
    let tree = &loaded.tree;
    let present = |f: &schema::Field| {
        schema::optional_ancestor(f.path).is_none_or(|b| tree.block_present(b.path))
    };
    let mut diags = Diagnostics::default();
    let mut fields = BTreeMap::new();
    let mut ev = Evaluator::new(map, tree, &mut diags);
    ev.stages = stages;
    for f in schema::FIELDS.iter().filter(|f| present(f)) {
        let entry = tree.fields.get(f.path);
        let value = ev.field(f.path).map(|v| match (&v.val, entry) {
            // A data source reads best as written: `image_folder("data/train")`.
            (Val::Call { .. }, Some(e)) => format::expr(&e.expr),
            (val, _) => val.show(),
        });
        let formula = match entry {
            Some(e) if is_formula(&e.expr) => Some(format::expr(&e.expr)),
            Some(_) => None,
            None => f
                .default
                .filter(|d| d.contains(['*', '/', '+']) || d.contains("train."))
                .map(str::to_string),
        };
        let set = entry.map(|e| Setting {
            statement: e.span,
            expr: e.expr.span,
            replaced: e.replaced,
        });
        fields.insert(
            f.path,
            FieldInfo {
                value,
                set,
                formula,
            },
        );
    }
    let mut blocks = tree.opened.clone();
    for (b, s) in &tree.blocks {
        blocks.entry(b).or_insert(*s);
    }
    Scope {
        stage: None,
        fields,
        blocks,
        extended_from: loaded.extended_from.clone(),
    }
}

/// Whether a value is computed (a reference or arithmetic) rather than written literally.
fn is_formula(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Ref(_) | ExprKind::Binary(..) => true,
        ExprKind::Paren(inner) | ExprKind::Neg(inner) => is_formula(inner),
        ExprKind::Quantity { value, .. } => is_formula(value),
        ExprKind::Range(a, b) => is_formula(a) || is_formula(b),
        ExprKind::List(items) => items.iter().any(is_formula),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{with_overlay, Overlay};
    use std::sync::Arc;

    #[test]
    fn values_formulas_and_origins_come_through_an_unsaved_base() {
        let dir = std::env::temp_dir().join(format!("deitc-resolve-{}", std::process::id()));
        let base = dir.join("base.deit");
        let child = dir.join("child.deit");
        let mut o = Overlay::new();
        o.insert(
            &base,
            "model { embed = 64\n depth = 2\n heads = 2 }\ntrain.batch = 256\n",
        );
        o.insert(&child, "extends \"base.deit\"\ntrain.batch = 128\n");
        let r = with_overlay(Arc::new(o), || resolve(&child));
        let scope = &r.scopes[0];
        let batch = &scope.fields["train.batch"];
        assert_eq!(batch.value.as_deref(), Some("128"));
        let set = batch.set.expect("set in the child");
        assert_eq!(r.map.slice(set.statement), "train.batch = 128");
        let replaced = set.replaced.expect("replaces the base's value");
        assert_eq!(r.map.slice(replaced), "train.batch = 256");
        let lr = &scope.fields["optimizer.lr"];
        assert_eq!(lr.formula.as_deref(), Some("5e-4 * train.batch / 512"));
        assert_eq!(lr.value.as_deref(), Some("1.25e-4"));
        assert!(lr.set.is_none());
        assert_eq!(scope.extended_from.len(), 1);
    }
}
