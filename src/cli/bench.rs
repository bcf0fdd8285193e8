//! `deitc bench R.deit [--steps N] [--batch B]`: training-step and eval throughput of the
//! recipe's graph on this machine, on random inputs of the model's shape (a benchmark, not
//! a test: numbers go to docs/performance.md, never into assertions).

use super::{DeviceArg, Output, RecipeArgs};
use crate::diag::Describe;
use crate::diag::Diagnostics;
use crate::error::Error;
use crate::ir::{Device, Precision, Recipe};
use crate::model::TensorFile;
use crate::train::catalogue::Registry;
use crate::train::graph::{Graph, HostBatch};
use crate::train::tensor_io::to_bytes;
use std::time::Instant;

/// Options of `deitc bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Timed steps (after 2 warm-up steps); the median is reported. At least 1.
    #[arg(long, default_value_t = 10, value_parser = super::usage::positive,
          allow_negative_numbers = true)]
    pub steps: usize,
    /// Batch size (default: the recipe's `train.batch`). At least 1.
    #[arg(long, value_parser = super::usage::positive, allow_negative_numbers = true)]
    pub batch: Option<usize>,
    /// Where to run (overrides `train.device`).
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
    /// Before timing, check the device against the CPU on the same weights and batch: eval
    /// logits, one training step's loss, and the logits after that step.
    #[arg(long)]
    pub compare_cpu: bool,
    /// Measure only the data pipeline: decoding at load time, then the recipe's train
    /// transforms and mixing per batch (no model is built). With `RAYON_NUM_THREADS=1` the
    /// figures are per core.
    #[arg(long)]
    pub data_only: bool,
}

pub fn run(args: &RecipeArgs, opts: &BenchArgs, graphs: &Registry, out: &mut Output) -> u8 {
    let checked = args.check(graphs);
    let errors = Diagnostics {
        items: checked
            .diags
            .items
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect(),
    };
    out.diagnostics(&errors, &checked.map, "bench");
    let (true, Some(recipe)) = (checked.ok(), checked.recipe.as_ref()) else {
        return 1;
    };
    let recipe = &DeviceArg::apply(opts.device, recipe);
    if opts.data_only {
        let b = opts.batch.unwrap_or(recipe.train.batch).max(1);
        out.out(&format!("{}: data pipeline only\n", recipe.name));
        out.out(&data_throughput(recipe, b, opts.steps.max(1)));
        return 0;
    }
    let mut graph = match graphs.build(recipe, recipe.train.seed, recipe.train.device) {
        Ok(g) => g,
        Err(e) => {
            out.diagnostics(&Diagnostics::global(Error::Run(e)), &checked.map, "bench");
            return 1;
        }
    };
    let b = opts.batch.unwrap_or(recipe.train.batch).max(1);
    let (c, s) = graph.input();
    let k = graph.classes();
    // Deterministic pseudo-random inputs and one-hot targets.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let images: Vec<f32> = (0..b * c * s * s)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    let targets: Vec<f32> = (0..b * k)
        .map(|i| f32::from(u8::from(i % k == (i / k) % k)))
        .collect();
    let batch = HostBatch {
        images: &images,
        targets: &targets,
        size: b,
    };
    let teacher = vec![0.0f32; b * k];
    if opts.compare_cpu {
        match compare_cpu(recipe, graphs, graph.as_mut(), batch, &teacher) {
            Ok(report) => out.out(&report),
            Err(e) => {
                out.err(&format!("error: CPU comparison failed: {e}\n"));
                return 1;
            }
        }
    }
    let steps = opts.steps.max(1);
    let mut train = Vec::new();
    let (mut fwd, mut bwd, mut upd) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..steps + 2 {
        // The timed steps are the device's profiling range (`nsys profile
        // --capture-range=cudaProfilerApi` records just them).
        if i == 2 {
            graph.profile(true);
        }
        let t0 = Instant::now();
        let stats = match graph.train_step(batch, Some(&teacher), 1e-4) {
            Ok(s) => s,
            Err(e) => {
                out.err(&format!("error: bench step failed: {e}\n"));
                return 1;
            }
        };
        if i >= 2 {
            train.push(t0.elapsed().as_secs_f64());
            fwd.push(stats.forward_s);
            bwd.push(stats.backward_s);
            upd.push(stats.optimizer_s);
        }
    }
    graph.profile(false);
    let mut eval = Vec::new();
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        if let Err(e) = std::hint::black_box(graph.eval_logits(&images, b, false)) {
            out.err(&format!("error: bench eval failed: {e}\n"));
            return 1;
        }
        if i >= 2 {
            eval.push(t0.elapsed().as_secs_f64());
        }
    }
    let (train_s, eval_s) = (median(&mut train), median(&mut eval));
    let split = format!(
        "  of which    forward + loss {:.1} ms · backward {:.1} ms · optimizer + EMA {:.1} ms (medians)\n",
        median(&mut fwd) * 1e3,
        median(&mut bwd) * 1e3,
        median(&mut upd) * 1e3
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    out.out(&format!(
        "{}: batch {b} · {c}×{s}×{s} · {} params · {} · {threads} threads\n  train step  {:.1} ms median of {steps} · {:.1} img/s\n  eval        {:.1} ms median of {steps} · {:.1} img/s\n  peak memory {}\n",
        recipe.name,
        super::thousands(graph.num_params() as u64),
        graph.device(),
        train_s * 1e3,
        b as f64 / train_s,
        eval_s * 1e3,
        b as f64 / eval_s,
        peak_rss().map_or("unknown".into(), |kib| format!("{:.0} MiB (process peak RSS)", kib as f64 / 1024.0)),
    ).replacen("\n  eval", &format!("\n{split}  eval"), 1));
    out.out(&compute_rate(recipe, b, train_s, eval_s));
    out.out(&teacher_cost(recipe, graphs, &images, b, steps));
    out.out(&data_throughput(recipe, b, steps));
    0
}

/// The arithmetic rate the medians imply, from the cost model's forward multiply-adds
/// (`deitc check`'s): a training step counted as three forwards (the backward does two
/// products for each of the forward's), two FLOPs per multiply-add.
fn compute_rate(recipe: &Recipe, b: usize, train_s: f64, eval_s: f64) -> String {
    let forward = 2.0 * crate::check::cost::Cost::of(&recipe.model).macs as f64 * b as f64;
    let rate = |flops: f64, s: f64| {
        let r = flops / s.max(f64::MIN_POSITIVE);
        if r >= 1e12 {
            format!("{:.2} TFLOP/s", r / 1e12)
        } else {
            format!("{:.1} GFLOP/s", r / 1e9)
        }
    };
    let per_image = forward / b.max(1) as f64;
    let per_image = if per_image >= 1e9 {
        format!("{:.2} G", per_image / 1e9)
    } else {
        format!("{:.2} M", per_image / 1e6)
    };
    format!(
        "  compute     train {} · eval {} (a step = 3 forwards of {per_image}FLOPs per image)\n",
        rate(3.0 * forward, train_s),
        rate(forward, eval_s),
    )
}

/// The distillation teacher's forward pass per batch (no tape, eval mode: what every
/// training step of a distilled recipe adds), or why it was not measured; empty without
/// distillation.
fn teacher_cost(
    recipe: &Recipe,
    graphs: &Registry,
    images: &[f32],
    b: usize,
    steps: usize,
) -> String {
    let teacher = match crate::train::teacher::build(graphs, recipe) {
        Ok(Some(t)) => t,
        Ok(None) => return String::new(),
        Err(d) => return format!("  teacher     not measured: {}\n", d.describe().message),
    };
    if teacher.input() != (recipe.model.channels, recipe.model.image) {
        return "  teacher     not measured: its input differs from the student's\n".into();
    }
    let mut times = Vec::new();
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        if let Err(e) = std::hint::black_box(teacher.eval_logits(images, b)) {
            return format!("  teacher     failed: {e}\n");
        }
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let t = median(&mut times);
    format!(
        "  teacher     {:.1} ms per batch (its forward on every training step, no tape; {} params)\n",
        t * 1e3,
        super::thousands(teacher.num_params() as u64)
    )
}

/// How close a device run must stay to the CPU's fp32 under `precision`: the logits'
/// relative difference, the training steps compared, and the relative difference of the
/// last step's loss.
fn tolerance(precision: Precision) -> (f64, usize, f64) {
    match precision {
        Precision::Fp32 => (1e-4, 1, 1e-4),
        // TF32 rounds the products' operands to 10 mantissa bits, bf16 to 7.
        Precision::Tf32 => (5e-3, 20, 1e-2),
        Precision::Bf16 => (2e-2, 20, 1e-2),
    }
}

/// Copies a CPU graph's fresh weights into `graph`, then compares eval logits, the first
/// step's gradient norm, the loss of the training steps (one in fp32, the loss after 20
/// under tf32 and bf16) and the logits after them. Errors when a difference exceeds the precision's [`tolerance`].
fn compare_cpu(
    recipe: &Recipe,
    graphs: &Registry,
    graph: &mut dyn Graph,
    batch: HostBatch<'_>,
    teacher: &[f32],
) -> Result<String, String> {
    let mut cpu = graphs
        .build(recipe, recipe.train.seed, Device::Cpu)
        .map_err(|k| k.describe().message)?;
    let bytes = to_bytes(&cpu.state().map_err(|e| e.to_string())?, Default::default())?;
    let file = TensorFile::parse(bytes).map_err(|e| e.to_string())?;
    graph.restore(&file, 0).map_err(|e| e.to_string())?;
    let n = batch.size;
    let logits = |g: &dyn Graph| {
        g.eval_logits(batch.images, n, false)
            .map_err(|e| e.to_string())
    };
    let (tol, steps, loss_tol) = tolerance(recipe.train.precision);
    let before = rel_diff(&logits(graph)?, &logits(cpu.as_ref())?);
    let step = |g: &mut dyn Graph| {
        g.train_step(batch, Some(teacher), 1e-4)
            .map(|s| (s.loss, s.grad_norm))
            .map_err(|e| e.to_string())
    };
    // The first step's gradient norm: AdamW's update barely depends on a gradient's scale,
    // so the logits after a step would not show a backward that is off by a factor.
    let (mut loss_dev, mut loss_cpu) = (f64::NAN, f64::NAN);
    let (mut norm_dev, mut norm_cpu) = (f64::NAN, f64::NAN);
    for i in 0..steps {
        let ((l_dev, g_dev), (l_cpu, g_cpu)) = (step(graph)?, step(cpu.as_mut())?);
        (loss_dev, loss_cpu) = (l_dev, l_cpu);
        if i == 0 {
            (norm_dev, norm_cpu) = (g_dev, g_cpu);
        }
    }
    let loss = (loss_dev - loss_cpu).abs() / loss_cpu.abs().max(1e-12);
    let norm = (norm_dev - norm_cpu).abs() / norm_cpu.abs().max(1e-12);
    let after = rel_diff(&logits(graph)?, &logits(cpu.as_ref())?);
    // In fp32 the logits after the step must agree too; under reduced precision 20 steps
    // drift apart by design, and the loss is the check.
    let after_ok = steps > 1 || after <= tol;
    let verdict = if before <= tol && loss <= loss_tol && norm <= tol && after_ok {
        "ok"
    } else {
        "MISMATCH"
    };
    let text = format!(
        "  {} {} vs cpu fp32: logits rel. diff {before:.2e} (≤ {tol:.0e}) · gradient norm {norm_dev:.6e} vs {norm_cpu:.6e} (rel. {norm:.2e}) · loss after {steps} step(s) {loss_dev:.6} vs {loss_cpu:.6} (rel. {loss:.2e}, ≤ {loss_tol:.0e}) · logits after {after:.2e} · {verdict}\n",
        graph.device(),
        recipe.train.precision.name(),
    );
    if verdict == "ok" {
        Ok(text)
    } else {
        Err(text)
    }
}

/// `max |a − b| / max |b|`.
fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max(f64::from((x - y).abs())));
    if a.len() != b.len() || !diff.is_finite() {
        return f64::INFINITY;
    }
    diff / scale.max(1e-12)
}

/// The data pipeline alone: median seconds per training batch of the recipe's loader
/// (sampling, augmentation, normalisation and mixing; decoding too when the split is
/// streamed, else it is done at load time), or why it could not be measured.
fn data_throughput(recipe: &Recipe, batch: usize, steps: usize) -> String {
    let mut r = recipe.clone();
    r.train.batch = batch;
    let t0 = Instant::now();
    let loader = match crate::data::Loader::new(&r) {
        Ok(l) => l,
        Err(e) => return format!("  data        not measured: {e}\n"),
    };
    let load_s = t0.elapsed().as_secs_f64();
    let loaded = loader.train.len() + loader.val.len();
    let order = loader.order(0);
    let per_epoch = loader.steps_per_epoch().max(1);
    let mut times = Vec::new();
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        if let Err(e) = std::hint::black_box(loader.train_batch(0, i % per_epoch, &order)) {
            return format!("  data        not measured: {e}\n");
        }
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let t = median(&mut times);
    let threads = rayon::current_num_threads();
    let load = if loader.train.is_streamed() {
        format!(
            "  load        {loaded} files listed in {load_s:.2} s (streamed: `data.preload`; \
             decoding is part of each batch)\n"
        )
    } else {
        format!(
            "  load        {loaded} images decoded and fitted in {load_s:.2} s · {:.0} img/s \
             ({threads} threads)\n",
            loaded as f64 / load_s.max(1e-9),
        )
    };
    let what = if loader.train.is_streamed() {
        "reading, decoding, the recipe's train transforms and mixing"
    } else {
        "the recipe's train transforms and mixing"
    };
    format!(
        "{load}  data        {:.2} ms per batch · {:.0} img/s ({what}, {threads} threads)\n",
        t * 1e3,
        batch as f64 / t,
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The process's peak resident set size in KiB (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
