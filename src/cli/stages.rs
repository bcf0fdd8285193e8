//! Pipelines on the command line: the stage graph shown by `check` and `explain`, and the
//! status of each stage (up to date, or not run).

use super::Output;
use crate::check::pipeline::Pipeline;
use crate::ir::Recipe;

/// The stage outputs `r` uses, as `stage.teacher.best (teacher)`.
pub fn uses(r: &Recipe) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(s) = r.distill.teacher.as_ref().and_then(|t| t.stage.as_ref()) {
        v.push(format!("{} (teacher)", s.written()));
    }
    if let Some(s) = r.finetune.as_ref().and_then(|f| f.from_stage.as_ref()) {
        v.push(format!("{} (fine-tuned from)", s.written()));
    }
    v
}

/// Whether the stage's current recipe has a finished run, and where.
pub fn status(r: &Recipe) -> String {
    match crate::train::stages::finished(r) {
        Some((dir, s)) => {
            let top1 = s.best_top1.map_or("-".into(), |v| format!("{v:.4}"));
            format!("up to date · {} (best val top-1 {top1})", dir.display())
        }
        None => "not run yet".into(),
    }
}

/// One line per stage in run order: name, what it uses, hash and status.
pub fn graph(p: &Pipeline) -> String {
    let width = p.stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = format!(
        "pipeline · {} stages · run order {}\n",
        p.stages.len(),
        p.order
            .iter()
            .map(|&i| p.stages[i].name.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    );
    for &i in &p.order {
        let s = &p.stages[i];
        let Some(r) = &s.checked.recipe else { continue };
        let used = uses(r);
        let used = if used.is_empty() {
            String::new()
        } else {
            format!(" · uses {}", used.join(", "))
        };
        if let Some(sw) = &s.checked.sweep {
            out += &format!(
                "  {:width$}  {used}\n",
                s.name,
                used = used.trim_start_matches(" · ")
            );
            for line in super::sweep::listing(sw).lines() {
                out += &format!("  {:width$}  {line}\n", "");
            }
            continue;
        }
        out += &format!(
            "  {:width$}  hash {}{used}\n  {:width$}  {}\n",
            s.name,
            crate::train::stages::hash_of(r),
            "",
            status(r)
        );
    }
    out
}

/// Prints a pipeline's diagnostics; `true` when it checked.
pub fn report(p: &Pipeline, out: &mut Output, command: &str) -> bool {
    let diags = crate::diag::Diagnostics {
        items: p.diags.items.clone(),
    }
    .sorted();
    out.diagnostics(&diags, &p.map, command);
    p.ok()
}
