//! The command line: one file per subcommand, sharing option parsing and report printing.

mod bench;
mod check;
mod eval;
mod explain;
mod export;
mod fmt;
mod graph;
mod import;
mod lsp;
mod output;
mod plot;
mod preview;
mod run;
mod runs;
mod stages;
mod sweep;
mod usage;

use crate::check::BuildFacts;
use crate::train::catalogue::Registry;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

pub use check::thousands;
pub use output::{Captured, Output};
pub use usage::UsageError;

#[derive(Parser, Debug)]
#[command(
    name = "deitc",
    version,
    about = "Check, train and evaluate DeiT training recipes"
)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum ExplainFormat {
    Ron,
    Json,
}

/// `--device cpu|cuda`: where to run (overrides the recipe's `train.device`).
#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

impl DeviceArg {
    /// The IR device this names.
    pub fn device(self) -> crate::ir::Device {
        match self {
            DeviceArg::Cpu => crate::ir::Device::Cpu,
            DeviceArg::Cuda => crate::ir::Device::Cuda,
        }
    }

    /// `recipe` with `train.device` replaced by `arg`, when given.
    pub fn apply(arg: Option<DeviceArg>, recipe: &crate::ir::Recipe) -> crate::ir::Recipe {
        let mut r = recipe.clone();
        let Some(device) = arg.map(DeviceArg::device) else {
            return r;
        };
        // Stages this one uses too: their hashes must match the runs that trained them.
        r.for_each_stage_mut(&mut |s| s.train.device = device);
        r
    }
}

/// The recipe and its overrides, shared by every subcommand that resolves a recipe.
#[derive(clap::Args, Debug, Clone)]
pub struct RecipeArgs {
    /// The recipe file.
    pub recipe: PathBuf,
    /// Override a field: `--set optimizer.lr=1e-3` (repeatable; later wins). In a pipeline,
    /// `--set <stage>.<path>=…` overrides one stage's field.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// The stage of a pipeline to act on (by default `run` runs them all; other commands
    /// take the last).
    #[arg(long)]
    pub stage: Option<String>,
    /// Sweep a field over values: `--sweep optimizer.lr=1e-3,5e-4` (repeatable: the grid of
    /// all of them, with the recipe's own `sweep`). In a pipeline, `--sweep <stage>.<path>=…`.
    #[arg(long = "sweep", value_name = "PATH=V1,V2,…")]
    pub sweep: Vec<String>,
    /// The point(s) of a sweep to act on: `--point lr=5e-4,seed=1` (keys as in the point
    /// names). `run` runs every point that matches; other commands need exactly one.
    #[arg(long = "point", value_name = "KEY=VALUE,…")]
    pub point: Vec<String>,
}

impl RecipeArgs {
    /// Checks the recipe (for a pipeline, the whole pipeline and the selected stage)
    /// against a build with `graphs`.
    pub fn check(&self, graphs: &Registry) -> crate::check::Checked {
        self.check_one(&build_facts(graphs))
    }

    /// Checks the recipe against what `build` says of the build that will run it; a sweep
    /// with every point `--point` picks.
    pub fn check_with(&self, build: &BuildFacts) -> crate::check::Checked {
        crate::check::check_request(&self.recipe, &self.request(), build)
    }

    /// What the checker is asked besides the path.
    pub fn request(&self) -> crate::check::Request<'_> {
        crate::check::Request {
            stage: self.stage.as_deref(),
            overrides: &self.set,
            sweeps: &self.sweep,
            points: &self.point,
        }
    }

    /// The check of a command that acts on one recipe: of a sweep, `--point` must pick one
    /// point (`deit::sweep::ambiguous_point` otherwise).
    pub fn check_one(&self, build: &BuildFacts) -> crate::check::Checked {
        one_point(self.check_with(build), &self.point)
    }
}

/// `checked`, with an error when its sweep has more than one point picked.
fn one_point(mut checked: crate::check::Checked, wanted: &[String]) -> crate::check::Checked {
    let many = checked
        .sweep
        .as_ref()
        .filter(|s| s.selected.len() > 1)
        .map(|s| {
            s.selected
                .iter()
                .filter_map(|&i| s.points.get(i))
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        });
    if let Some(matches) = many {
        let wanted = wanted.join(",");
        checked.diags.push(crate::diag::Diag::global(
            crate::diag::ErrorKind::AmbiguousPoint { wanted, matches },
        ));
    }
    checked
}

/// What this build tells the checker: the shapes it has a graph for (`graphs`: compiled in,
/// and those a generated graph's `main` added) and whether it can run on CUDA.
pub fn build_facts(graphs: &Registry) -> BuildFacts {
    BuildFacts {
        graphs: Some(graphs.graphs()),
        cuda: Some(crate::device::available(crate::ir::Device::Cuda)),
        device: None,
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a recipe (all errors at once) and print what it will cost.
    Check {
        #[command(flatten)]
        recipe: RecipeArgs,
        /// `json` prints one JSON object per diagnostic and a summary, for editors and CI.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
    },
    /// Print the fully resolved recipe, each value annotated with where it came from.
    Explain {
        #[command(flatten)]
        recipe: RecipeArgs,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Ron)]
        format: ExplainFormat,
    },
    /// Train a recipe: progress bar, metrics, checkpoints, `--resume`.
    Run {
        #[command(flatten)]
        recipe: RecipeArgs,
        #[command(flatten)]
        opts: run::RunArgs,
    },
    /// Training-step and eval throughput of the recipe's graph on this machine.
    Bench {
        #[command(flatten)]
        recipe: RecipeArgs,
        #[command(flatten)]
        opts: bench::BenchArgs,
    },
    /// Top-1/top-5 of a checkpoint on the recipe's validation split.
    Eval {
        #[command(flatten)]
        recipe: RecipeArgs,
        /// A checkpoint written by `deitc run` (or timm-named weights).
        #[arg(long)]
        checkpoint: std::path::PathBuf,
        /// Evaluate the EMA weights of a `deitc run` checkpoint.
        #[arg(long)]
        ema: bool,
        /// Where to evaluate (overrides `train.device`).
        #[arg(long, value_enum)]
        device: Option<DeviceArg>,
    },
    /// Convert timm weights (safetensors or `.pth`) into a deitc checkpoint for a recipe.
    Import {
        #[command(flatten)]
        args: import::ImportArgs,
    },
    /// Write a deitc checkpoint's weights as a timm `state_dict` (safetensors).
    Export {
        #[command(flatten)]
        args: export::ExportArgs,
    },
    /// Write a PNG grid of augmented training samples, as the model will see them.
    Preview {
        #[command(flatten)]
        recipe: RecipeArgs,
        #[command(flatten)]
        opts: preview::PreviewArgs,
    },
    /// Build the generated graph a recipe needs (a shape not compiled in), ahead of `run`.
    Build {
        #[command(flatten)]
        recipe: RecipeArgs,
    },
    /// The cache of generated graphs: `list` or `clean`.
    Cache {
        #[command(subcommand)]
        command: graph::CacheCommand,
    },
    /// Plot runs and sweeps (loss, top-1, lr per epoch; PNG, SVG or HTML) and tabulate top-1.
    Report {
        #[command(flatten)]
        args: plot::ReportArgs,
    },
    /// List the runs under a folder of runs: status, epochs, best top-1, time.
    Runs {
        #[command(flatten)]
        args: runs::RunsArgs,
    },
    /// Rewrite recipes in the canonical layout (comments kept).
    Fmt {
        /// Recipe files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only report files that would change (exit 1 if any).
        #[arg(long)]
        check: bool,
    },
    /// Serve the Language Server Protocol on stdin/stdout, for editors (docs/editors.md).
    Lsp {
        #[command(flatten)]
        args: lsp::LspArgs,
    },
}

/// `check` for a command that builds no graph itself (`import`, `export`, `build`): which
/// shapes this build has is moot there, so the checker is not told (and gives no warning
/// that the shape has no compiled-in graph).
fn check_without_graph_warning(args: &RecipeArgs) -> crate::check::Checked {
    args.check_one(&BuildFacts {
        graphs: None,
        ..build_facts(&Registry::empty())
    })
}

/// Runs the command line with the compiled-in graphs and returns the exit code (0 ok,
/// 1 diagnostics, 2 usage).
pub fn main() -> ExitCode {
    main_with(&Registry::compiled())
}

/// Runs the command line with the graphs of `graphs` (a generated graph's `main` adds its
/// shapes to the compiled-in ones) and returns the exit code.
pub fn main_with(graphs: &Registry) -> ExitCode {
    main_thread_in_pool();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            // Help and version as clap prints them (its colours); a mistake as a diagnostic.
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let mut out = Output::stdio(usage::color_of(&args));
            return ExitCode::from(usage::report(&e, &args, &mut out));
        }
    };
    let mut out = Output::stdio(cli.color);
    // A shape that is not compiled in runs in its generated graph.
    if let Some(code) = graph::hand_over(&cli.command, &args, graphs, &mut out) {
        return ExitCode::from(code);
    }
    let code = run_with(cli.command, graphs, &mut out);
    ExitCode::from(code)
}

/// Makes this thread one of the threads of rayon's global pool (of `RAYON_NUM_THREADS`, or
/// one per core), when the pool has at least two. A parallel loop started here then splits
/// its work with the other threads directly, instead of waking them from outside and
/// sleeping until they finish: a DeiT-Ti step does hundreds of such loops (measured in
/// docs/performance.md). With one thread the pool keeps its own thread, so that work sent
/// to it from the data thread still runs while this one waits for a batch.
fn main_thread_in_pool() {
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    if threads >= 2 {
        // Fails only if the pool already exists, which then simply stays as it is.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .use_current_thread()
            .build_global();
    }
}

/// Parses `args` (without the program name) and runs them against `out` with the
/// compiled-in graphs, as the binary would: for tests and embedding.
pub fn run_args<I, S>(args: I, out: &mut Output) -> u8
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    match usage::parse(&argv, out) {
        Ok(cli) => run(cli.command, out),
        Err(code) => code,
    }
}

/// Runs one command against `out` with the compiled-in graphs; returns the exit code.
pub fn run(command: Command, out: &mut Output) -> u8 {
    run_with(command, &Registry::compiled(), out)
}

/// Runs one command against `out` with the graphs of `graphs`; returns the exit code.
pub fn run_with(command: Command, graphs: &Registry, out: &mut Output) -> u8 {
    match command {
        Command::Check {
            recipe,
            message_format,
        } => check::run(&recipe, message_format, graphs, out),
        Command::Explain { recipe, format } => explain::run(&recipe, format, graphs, out),
        Command::Fmt { files, check } => fmt::run(&files, check, out),
        Command::Lsp { args } => lsp::run(&args, graphs),
        Command::Run { recipe, opts } => run::run(&recipe, &opts, graphs, out),
        Command::Bench { recipe, opts } => bench::run(&recipe, &opts, graphs, out),
        Command::Eval {
            recipe,
            checkpoint,
            ema,
            device,
        } => eval::run(&recipe, &checkpoint, ema, device, graphs, out),
        Command::Preview { recipe, opts } => preview::run(&recipe, &opts, graphs, out),
        Command::Import { args } => import::run(&args, graphs, out),
        Command::Export { args } => export::run(&args, out),
        Command::Build { recipe } => graph::build(&recipe, graphs, out),
        Command::Cache { command } => graph::cache(&command, out),
        Command::Report { args } => plot::run(&args, out),
        Command::Runs { args } => runs::run(&args, out),
    }
}
