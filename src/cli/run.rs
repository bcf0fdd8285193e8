//! `deitc run R.deit [--set …] [--resume] [--stage S] [--sweep …] [--point …]`: check the
//! recipe, then train it; a pipeline runs its stages in order and a sweep its points,
//! skipping those already up to date.

use super::{DeviceArg, Output, RecipeArgs};
use crate::check::pipeline::Pipeline;
use crate::check::Checked;
use crate::diag::{Diag, Diagnostics, ErrorKind};
use crate::error::Error;
use crate::ir::Recipe;
use crate::source::SourceMap;
use crate::train::catalogue::Registry;
use crate::train::run::{run as train, Progress, RunOptions, STOP};
use crate::train::run_dir;
use crate::train::RunError;

/// Options of `deitc run` besides the recipe.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Continue the latest run of this recipe from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Where to train (overrides `train.device`).
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
    /// Print nothing but errors and the final line.
    #[arg(long, conflicts_with = "json")]
    pub quiet: bool,
    /// One JSON object per epoch on stdout (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// The environment variable of the test-only fault injection (`train::fault`).
pub const FAULT_ENV: &str = "DEITC_FAULT";

pub fn run(args: &RecipeArgs, opts: &RunArgs, graphs: &Registry, out: &mut Output) -> u8 {
    // Tests only: crash at an exact step or checkpoint write (crates/backend/src/train/fault.rs).
    if let Ok(spec) = std::env::var(FAULT_ENV) {
        if let Err(e) = crate::train::fault::install(&spec) {
            out.err(&format!("error: {FAULT_ENV}: {e}\n"));
            return 2;
        }
    }
    // The checker hears of `--device`, so that its trainability warnings (CUDA, precision)
    // speak of the device the run will use (the recipe itself gets it after checking).
    let facts = crate::check::BuildFacts {
        device: opts.device.map(DeviceArg::device),
        ..super::build_facts(graphs)
    };
    if let Some(p) = crate::check::pipeline::check_request(&args.recipe, &args.request(), &facts) {
        return pipeline(&p, args.stage.as_deref(), opts, graphs, out);
    }
    let checked = args.check_with(&facts);
    let Some(recipe) = out.checked(&checked, "run") else {
        return 1;
    };
    if checked.sweep.is_some() {
        return sweep(&checked, opts, graphs, out);
    }
    let recipe = &DeviceArg::apply(opts.device, recipe);
    train_one(recipe, opts, opts.resume, &checked.map, graphs, out).0
}

/// Runs a pipeline's stages in order (only `stage` and what it uses, when given), skipping
/// every stage whose current recipe already has a finished run.
fn pipeline(
    p: &Pipeline,
    stage: Option<&str>,
    opts: &RunArgs,
    graphs: &Registry,
    out: &mut Output,
) -> u8 {
    if !super::stages::report(p, out, "run") {
        return 1;
    }
    let todo = match stage {
        None => p.order.clone(),
        Some(name) => match p.find(name) {
            Some(i) => p.upstream_of(i),
            None => {
                let names = p.names();
                let suggestion = crate::diag::suggest(name, names.iter().map(String::as_str));
                let d = Diag::global(ErrorKind::NoSuchStage {
                    name: name.into(),
                    stages: names,
                    suggestion,
                });
                out.diagnostics(&Diagnostics { items: vec![d] }, &p.map, "run");
                return 1;
            }
        },
    };
    // Every point of a swept stage counts as one step of the plan.
    let mut plan: Vec<(String, &Recipe)> = Vec::new();
    for &i in &todo {
        let s = &p.stages[i];
        match &s.checked.sweep {
            Some(sw) => {
                if let Err(code) = super::sweep::write_manifest(sw, out, &p.map) {
                    return code;
                }
                for (point, r) in sw.selected_recipes() {
                    plan.push((format!("`{}` point `{}`", s.name, point.name), r));
                }
            }
            None => {
                let Some(r) = s.checked.recipe.as_ref() else {
                    return 1;
                };
                plan.push((format!("`{}`", s.name), r));
            }
        }
    }
    let n = plan.len();
    for (k, (what, recipe)) in plan.into_iter().enumerate() {
        let header = format!("stage {}/{n} {what}", k + 1);
        if let Err(code) = train_cached(recipe, &header, opts, &p.map, graphs, out) {
            return code;
        }
    }
    0
}

/// Runs the picked points of a sweep, skipping those already up to date.
fn sweep(checked: &Checked, opts: &RunArgs, graphs: &Registry, out: &mut Output) -> u8 {
    let Some(sw) = checked.sweep.as_ref() else {
        return 1;
    };
    if let Err(code) = super::sweep::write_manifest(sw, out, &checked.map) {
        return code;
    }
    let todo: Vec<_> = sw.selected_recipes().collect();
    let n = todo.len();
    for (k, (point, recipe)) in todo.into_iter().enumerate() {
        let header = format!("point {}/{n} `{}`", k + 1, point.name);
        if let Err(code) = train_cached(recipe, &header, opts, &checked.map, graphs, out) {
            return code;
        }
    }
    0
}

/// Trains `recipe` as one step of a pipeline or sweep: skipped when its current recipe
/// already has a finished run, refused when another process trains it now. `Err` carries
/// the exit code that stops the plan (a failure, or a run stopped before its end).
fn train_cached(
    recipe: &Recipe,
    header: &str,
    opts: &RunArgs,
    map: &SourceMap,
    graphs: &Registry,
    out: &mut Output,
) -> Result<(), u8> {
    let recipe = &DeviceArg::apply(opts.device, recipe);
    if let Some((dir, summary)) = crate::train::stages::finished(recipe) {
        let best = top1(summary.best_top1);
        let line = format!(
            "{header}: up to date · best val top-1 {best} · {}\n",
            dir.display()
        );
        if opts.json {
            out.err(&line);
        } else {
            out.out(&line);
        }
        return Ok(());
    }
    if !opts.quiet {
        out.err(&format!("{header}: training {}\n", recipe.name));
    }
    // `--resume` continues the latest run when it is of this very recipe.
    let root = run_dir::runs_of(&recipe.train.output, &recipe.name);
    let hash = crate::train::stages::hash_of(recipe);
    let latest = run_dir::existing(&root)
        .pop()
        .filter(|d| run_dir::recorded_hash(d).as_deref() == Some(hash.as_str()));
    // One writer per run: a recipe another process is training now is not trained a
    // second time beside it (nor resumed under it).
    if let Some((dir, pid)) = latest
        .as_ref()
        .and_then(|d| run_dir::holder(d).map(|pid| (d, pid)))
    {
        let e = RunError::Locked {
            dir: dir.display().to_string(),
            pid,
        };
        out.diagnostics(&Diagnostics::global(Error::Run(e)), map, "run");
        return Err(1);
    }
    let resume = opts.resume && latest.is_some();
    let (code, finished) = train_one(recipe, opts, resume, map, graphs, out);
    if code != 0 || !finished {
        return Err(code);
    }
    Ok(())
}

/// Trains one recipe and prints its final line; the exit code, and whether it finished.
fn train_one(
    recipe: &Recipe,
    opts: &RunArgs,
    resume: bool,
    map: &SourceMap,
    graphs: &Registry,
    out: &mut Output,
) -> (u8, bool) {
    // Ctrl-C: finish the step, save, stop. A second handler (in tests) is not an error.
    let _ = ctrlc::set_handler(|| STOP.store(true, std::sync::atomic::Ordering::SeqCst));
    let progress = if opts.json {
        Progress::Json
    } else if opts.quiet {
        Progress::Quiet
    } else {
        Progress::Bar
    };
    // The final line: on stdout, or on stderr when stdout carries JSON.
    let say = |out: &mut Output, line: &str| {
        if progress == Progress::Json {
            out.err(line);
        } else {
            out.out(line);
        }
    };
    // `--resume` of a run that already reached the end of its schedule: nothing to train;
    // say so with the metrics it recorded.
    if resume {
        if let Some((dir, summary)) = finished_latest(recipe) {
            let line = format!(
                "{}: already finished after {} epochs ({} steps) · val top-1 {} (best {}) · {}\n",
                recipe.name,
                summary.epochs,
                summary.steps,
                top1(summary.final_top1),
                top1(summary.best_top1),
                dir.display()
            );
            say(out, &line);
            return (0, true);
        }
    }
    let resolved = recipe.to_ron().unwrap_or_default();
    let run_opts = RunOptions {
        resume,
        progress,
        crash_after_steps: None,
    };
    // Epoch lines stream as they come: JSON objects to stdout, the rest to stderr.
    let result = {
        let mut log = |s: &str| match progress {
            Progress::Json if s.starts_with('{') => out.out(s),
            Progress::Json | Progress::Bar => out.err(s),
            Progress::Quiet => {}
        };
        train(graphs, recipe, &resolved, &run_opts, &mut log)
    };
    match result {
        Ok(report) => {
            let (top1, best) = (top1(report.final_top1), top1(report.best_top1));
            let state = if report.interrupted {
                "stopped"
            } else {
                "done"
            };
            let skipped = match report.skipped {
                0 => String::new(),
                n => format!(" · {n} unreadable image(s) skipped"),
            };
            let line = format!(
                "{}: {state} after {} epochs ({} steps) · val top-1 {top1} (best {best}){skipped} · {}\n",
                recipe.name,
                report.epochs,
                report.steps,
                report.dir.display()
            );
            say(out, &line);
            (0, !report.interrupted)
        }
        Err(e) => {
            out.diagnostics(&Diagnostics::global(Error::Run(e)), map, "run");
            (1, false)
        }
    }
}

/// A top-1 accuracy as printed, `-` when there is none (no evaluation ran).
fn top1(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

/// The latest run of `recipe` (the one `--resume` continues), when it is of this very recipe
/// and finished: its directory and recorded summary.
fn finished_latest(recipe: &Recipe) -> Option<(std::path::PathBuf, run_dir::Summary)> {
    let root = run_dir::runs_of(&recipe.train.output, &recipe.name);
    let dir = run_dir::existing(&root).pop()?;
    let hash = crate::train::stages::hash_of(recipe);
    if run_dir::recorded_hash(&dir).as_deref() != Some(hash.as_str()) {
        return None;
    }
    let summary = run_dir::Summary::read(&dir)?;
    Some((dir, summary))
}
