//! `deitc run R.deit [--set …] [--resume]`: check the recipe, then train it.

use super::{DeviceArg, Output, RecipeArgs};
use crate::check::check;
use crate::train::run::{run as train, Progress, RunOptions, STOP};

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

pub fn run(args: &RecipeArgs, opts: &RunArgs, out: &mut Output) -> u8 {
    let checked = check(&args.recipe, &args.set);
    out.diagnostics(&checked.diags, &checked.map, "run");
    let (true, Some(recipe)) = (checked.ok(), checked.recipe.as_ref()) else {
        return 1;
    };
    let recipe = &DeviceArg::apply(opts.device, recipe);
    // Ctrl-C: finish the step, save, stop. A second handler (in tests) is not an error.
    let _ = ctrlc::set_handler(|| STOP.store(true, std::sync::atomic::Ordering::SeqCst));
    let progress = if opts.json {
        Progress::Json
    } else if opts.quiet {
        Progress::Quiet
    } else {
        Progress::Bar
    };
    let resolved = recipe.to_ron().unwrap_or_default();
    let run_opts = RunOptions {
        resume: opts.resume,
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
        train(recipe, &resolved, &run_opts, &mut log)
    };
    match result {
        Ok(report) => {
            let top1 = report.final_top1.map_or("-".into(), |v| format!("{v:.4}"));
            let best = report.best_top1.map_or("-".into(), |v| format!("{v:.4}"));
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
            if progress == Progress::Json {
                out.err(&line);
            } else {
                out.out(&line);
            }
            0
        }
        Err(d) => {
            out.diagnostics(
                &crate::diag::Diagnostics { items: vec![*d] },
                &checked.map,
                "run",
            );
            1
        }
    }
}
