//! `deitc explain R.deit`: the resolved recipe as RON (or JSON), each value annotated with
//! where it came from: `file:line`, `<cli:N>` (a `--set`) or `default`.

use super::{ExplainFormat, Output, RecipeArgs};
use crate::check::pipeline::Pipeline;
use crate::check::{schema, Checked};
use crate::ir::Recipe;
use crate::source::SourceMap;
use crate::train::catalogue::Registry;

pub fn run(args: &RecipeArgs, format: ExplainFormat, graphs: &Registry, out: &mut Output) -> u8 {
    if args.stage.is_none() {
        if let Some(p) = crate::check::pipeline::check_request(
            &args.recipe,
            &args.request(),
            &super::build_facts(graphs),
        ) {
            return pipeline(&p, format, out);
        }
    }
    // Every point of a sweep (the first picked one is summarised in full).
    let checked = args.check_with(&super::build_facts(graphs));
    let Some(recipe) = out.checked(&checked, "explain") else {
        return 1;
    };
    let recipe = &recipe.without_stage_recipes();
    let text = match (format, &checked.sweep) {
        (ExplainFormat::Ron, None) => annotated_ron(recipe, &checked, &checked.map),
        (ExplainFormat::Json, None) => json(recipe, &checked, &checked.map),
        // A sweep: its points, then the first picked point's recipe.
        (ExplainFormat::Ron, Some(sw)) => {
            let listing: String = super::sweep::listing(sw)
                .lines()
                .map(|l| format!("// {l}\n"))
                .collect();
            let shown = format!("// the recipe of point `{}`:\n", point_name(recipe));
            format!(
                "{listing}{shown}{}",
                annotated_ron(recipe, &checked, &checked.map)
            )
        }
        (ExplainFormat::Json, Some(sw)) => {
            let mut v = json_value(recipe, &checked, &checked.map);
            v["sweep"] = super::sweep::json(sw);
            format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
        }
    };
    out.out(&text);
    0
}

/// The point a swept recipe is of (its name after the sweep's: `lr=5e-4,seed=1`).
fn point_name(r: &Recipe) -> &str {
    r.name.rsplit('/').next().unwrap_or(&r.name)
}

/// A pipeline: the stage graph, then every stage in run order (as a comment-headed RON
/// section, or one JSON object with a `stages` list).
fn pipeline(p: &Pipeline, format: ExplainFormat, out: &mut Output) -> u8 {
    if !super::stages::report(p, out, "explain") {
        return 1;
    }
    let stages = p.order.iter().filter_map(|&i| {
        let s = &p.stages[i];
        Some((s, s.checked.recipe.as_ref()?.without_stage_recipes()))
    });
    let text = match format {
        ExplainFormat::Ron => {
            let graph: String = super::stages::graph(p)
                .lines()
                .map(|l| format!("// {l}\n"))
                .collect();
            let parts: Vec<String> = stages
                .map(|(s, r)| annotated_ron(&r, &s.checked, &p.map))
                .collect();
            format!("{graph}\n{}", parts.join("\n"))
        }
        ExplainFormat::Json => {
            let parts: Vec<serde_json::Value> = stages
                .map(|(s, r)| {
                    let mut v = json_value(&r, &s.checked, &p.map);
                    v["stage"] = s.name.clone().into();
                    v["needs"] = s
                        .needs
                        .iter()
                        .map(|&j| p.stages[j].name.clone())
                        .collect::<Vec<_>>()
                        .into();
                    v["hash"] = s
                        .checked
                        .recipe
                        .as_ref()
                        .map(crate::train::stages::hash_of)
                        .into();
                    v
                })
                .collect();
            let v = serde_json::json!({ "stages": parts });
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
    };
    out.out(&text);
    0
}

/// Where a field or block's value came from.
fn origin(path: &str, c: &Checked, map: &SourceMap) -> String {
    let place = match c.origins.get(path) {
        Some(span) => map.location(*span),
        None => match path {
            "model.classes" | "distill.teacher.classes" => "default: data.classes".to_string(),
            "data.classes" => "default: from the source".to_string(),
            _ => "default".to_string(),
        },
    };
    match c.formulas.get(path) {
        Some(f) => format!("{place}: {f}"),
        None => place,
    }
}

/// The recipe's RON with a `// origin` comment on every line that starts a schema field.
pub fn annotated_ron(recipe: &Recipe, c: &Checked, map: &SourceMap) -> String {
    let Ok(ron) = recipe.to_ron() else {
        return String::new();
    };
    let mut stack: Vec<String> = Vec::new();
    let mut out = format!(
        "// {} — resolved by deitc {}\n",
        recipe.name,
        env!("CARGO_PKG_VERSION")
    );
    for line in ron.lines() {
        let indent = line.len() - line.trim_start().len();
        let depth = indent / 4;
        let trimmed = line.trim_start();
        let key = trimmed
            .split_once(':')
            .map(|(k, _)| k)
            .filter(|k| k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'));
        let mut annotated = line.to_string();
        if let (Some(key), true) = (key, depth >= 1) {
            stack.truncate(depth - 1);
            let path = if stack.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", stack.join("."))
            };
            if schema::field(&path).is_some() || schema::block(&path).is_some_and(|b| b.optional) {
                annotated = format!("{line} // {}", origin(&path, c, map));
            }
            if trimmed.ends_with('(') || trimmed.ends_with('[') || trimmed.ends_with("((") {
                stack.push(key.to_string());
            }
        }
        out += &annotated;
        out.push('\n');
    }
    out
}

fn json(recipe: &Recipe, c: &Checked, map: &SourceMap) -> String {
    serde_json::to_string_pretty(&json_value(recipe, c, map)).unwrap_or_default() + "\n"
}

fn json_value(recipe: &Recipe, c: &Checked, map: &SourceMap) -> serde_json::Value {
    let present = |f: &&schema::Field| match schema::optional_ancestor(f.path) {
        Some(b) => c.origins.contains_key(b.path),
        None => true,
    };
    let origins: serde_json::Map<String, serde_json::Value> = schema::FIELDS
        .iter()
        .filter(present)
        .map(|f| (f.path.to_string(), origin(f.path, c, map).into()))
        .collect();
    serde_json::json!({ "recipe": recipe, "origins": origins })
}
