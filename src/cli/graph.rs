//! Generated graphs on the command line: the hand-over of `run`/`eval`/`bench` to a
//! generated graph, `deitc build R.deit` (build it ahead) and `deitc cache list|clean`.

use super::{Command, Output, RecipeArgs};
use crate::diag::Diagnostics;
use crate::error::Error;
use crate::generated::{self, GenerateError, Plan, ENV_GENERATED};
use crate::train::catalogue::Registry;
use std::time::Duration;

/// `deitc cache …`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum CacheCommand {
    /// List the generated graphs and whether each is built.
    List,
    /// Delete every generated graph and the shared build folder.
    Clean,
}

/// The recipe arguments of a command that needs the recipe's graph (`bench --data-only`
/// times the loader alone, and needs none).
fn needs_graph(cmd: &Command) -> Option<&RecipeArgs> {
    match cmd {
        Command::Bench { opts, .. } if opts.data_only => None,
        Command::Run { recipe, .. } | Command::Bench { recipe, .. } => Some(recipe),
        Command::Eval { recipe, .. } => Some(recipe),
        _ => None,
    }
}

/// For `run`, `eval` and `bench` of a recipe that checks and whose shape (or teacher's) is
/// not compiled in: builds the generated graph if needed and runs the command in it,
/// returning its exit code. `None`: this process runs the command itself.
pub fn hand_over(
    cmd: &Command,
    args: &[std::ffi::OsString],
    graphs: &Registry,
    out: &mut Output,
) -> Option<u8> {
    if std::env::var_os(ENV_GENERATED).is_some() {
        return None;
    }
    let recipe = needs_graph(cmd)?;
    let recipes = recipes_of(recipe, graphs)?;
    let plan = match planned(&recipes, graphs) {
        Ok(Some(p)) => p,
        Ok(None) => return None,
        Err(kind) => return Some(fail(out, kind, name(cmd))),
    };
    // Built or not, cargo brings it up to date with this deitc's source (a no-op in a
    // fraction of a second when nothing changed).
    if let Err(kind) = build_with_spinner(&plan, out) {
        return Some(fail(out, kind, name(cmd)));
    }
    Some(generated::exec(&plan, args).unwrap_or_else(|kind| fail(out, kind, name(cmd))))
}

/// The recipes a command runs: the recipe, or every stage of a pipeline. `None` when they
/// do not check (the command itself reports why).
fn recipes_of(args: &RecipeArgs, graphs: &Registry) -> Option<Vec<crate::ir::Recipe>> {
    let facts = super::build_facts(graphs);
    let req = args.request();
    if let Some(p) = crate::check::pipeline::check_request(&args.recipe, &req, &facts) {
        let ok = p.ok();
        let all = p.stages.into_iter().flat_map(|s| every_point(s.checked));
        return Some(all.collect()).filter(|_| ok);
    }
    let checked = crate::check::check_request(&args.recipe, &req, &facts);
    let ok = checked.ok();
    Some(every_point(checked)).filter(|_| ok)
}

/// The recipe of a check, or of every picked point of its sweep.
fn every_point(c: crate::check::Checked) -> Vec<crate::ir::Recipe> {
    match c.sweep {
        Some(s) => s.selected_recipes().map(|(_, r)| r.clone()).collect(),
        None => c.recipe.into_iter().collect(),
    }
}

/// The generated graph `recipes` need, if any.
fn planned(
    recipes: &[crate::ir::Recipe],
    graphs: &Registry,
) -> Result<Option<Plan>, GenerateError> {
    let mut shapes = Vec::new();
    for r in recipes {
        for s in generated::missing(r, graphs)? {
            if !shapes.contains(&s) {
                shapes.push(s);
            }
        }
    }
    if shapes.is_empty() {
        return Ok(None);
    }
    let source = generated::source_dir()?;
    Ok(Some(generated::plan(
        shapes,
        &generated::cache_root(),
        &source,
    )))
}

fn fail(out: &mut Output, e: impl Into<Error>, what: &str) -> u8 {
    out.diagnostics(&Diagnostics::global(e.into()), &Default::default(), what);
    1
}

/// The subcommand's name, for the summary line of its diagnostics.
fn name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Bench { .. } => "bench",
        Command::Eval { .. } => "eval",
        _ => "run",
    }
}

/// Builds `plan` (or brings it up to date), saying what is happening: a spinner with
/// cargo's current step on a terminal, and for a first build a line before and after.
fn build_with_spinner(plan: &Plan, out: &mut Output) -> Result<(), GenerateError> {
    generated::source_dir()?;
    generated::cargo_version()?;
    let first = !plan.is_built();
    if first {
        out.err(&format!(
            "compiling a graph for {} — first time only, about 1–3 min (cached in {})\n",
            plan.describe(),
            plan.dir.display()
        ));
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    let t0 = std::time::Instant::now();
    let result = generated::build(plan, &mut |line| {
        if !line.is_empty() {
            bar.set_message(line.to_string());
        }
    });
    bar.finish_and_clear();
    let took = t0.elapsed().as_secs_f64();
    if result.is_ok() && (first || took > 2.0) {
        let what = if first {
            "ready"
        } else {
            "rebuilt for this deitc"
        };
        out.err(&format!(
            "graph {what} in {took:.0} s: {}\n",
            plan.bin.display()
        ));
    }
    result
}

/// `deitc build R.deit [--set …]`: builds the recipe's generated graph now.
pub fn build(args: &RecipeArgs, graphs: &Registry, out: &mut Output) -> u8 {
    // The missing graph is what this command builds.
    let checked = super::check_without_graph_warning(args);
    out.diagnostics(&checked.diags, &checked.map, "build");
    let (true, Some(r)) = (checked.ok(), checked.recipe.as_ref()) else {
        return 1;
    };
    // A pipeline builds what all its stages need.
    let recipes = recipes_of(args, graphs).unwrap_or_else(|| vec![r.clone()]);
    match planned(&recipes, graphs) {
        Ok(None) => {
            out.out(&format!(
                "{}: every graph this recipe needs is compiled in; nothing to build\n",
                r.name
            ));
            0
        }
        Ok(Some(plan)) => {
            let before = plan.is_built();
            match build_with_spinner(&plan, out) {
                Ok(()) => {
                    let state = if before {
                        "already built (up to date)"
                    } else {
                        "built"
                    };
                    out.out(&format!(
                        "{}: {state}: {} ({})\n",
                        r.name,
                        plan.bin.display(),
                        plan.describe()
                    ));
                    0
                }
                Err(kind) => fail(out, kind, "build"),
            }
        }
        Err(kind) => fail(out, kind, "build"),
    }
}

/// `deitc cache list|clean`.
pub fn cache(cmd: &CacheCommand, out: &mut Output) -> u8 {
    let root = generated::cache_root();
    match cmd {
        CacheCommand::List => {
            let graphs = generated::list(&root);
            out.out(&format!(
                "{} generated graph(s) in {}\n",
                graphs.len(),
                root.display()
            ));
            for (key, what, built) in graphs {
                let state = if built { "built" } else { "not built" };
                out.out(&format!("  {key}  {state:9}  {what}\n"));
            }
            0
        }
        CacheCommand::Clean => {
            let mut removed = 0;
            for sub in ["graphs", "target"] {
                let p = root.join(sub);
                if p.exists() {
                    if let Err(e) = std::fs::remove_dir_all(&p) {
                        return fail(
                            out,
                            Error::WriteOutput {
                                path: p.display().to_string(),
                                message: e.to_string(),
                            },
                            "cache clean",
                        );
                    }
                    removed += 1;
                }
            }
            let what = if removed == 0 {
                "nothing to clean"
            } else {
                "removed the generated graphs"
            };
            out.out(&format!("{what} in {}\n", root.display()));
            0
        }
    }
}
