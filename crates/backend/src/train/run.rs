//! The training loop: epochs of augmented batches through the graph, the lr schedule, the
//! teacher, periodic evaluation, metrics, atomic checkpoints and `--resume`.

use super::catalogue::Registry;
use super::checkpoint::{self, CheckpointError, Position};
use super::graph::{Graph, GraphError, HostBatch};
use super::metrics::{score, EpochMetrics};
use super::run_dir;
use super::schedule::LrSchedule;
use super::teacher;
use super::tensorboard::{TeacherTally, TrainLog};
use super::{RunError, Saved};
use crate::data::{DataError, Loader};
use crate::interop::InteropError;
use crate::ir::{Duration, Every, Recipe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Set by Ctrl-C: the loop saves a checkpoint after the current step and stops.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// How the loop reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar and a line per epoch on stderr.
    Bar,
    /// One JSON object per epoch on stdout, nothing else.
    Json,
    /// Nothing but errors.
    Quiet,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub resume: bool,
    pub progress: Progress,
    /// Stop (without a final checkpoint) after this many optimizer steps: a crash, for tests.
    pub crash_after_steps: Option<u64>,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub dir: PathBuf,
    pub epochs: u64,
    pub steps: u64,
    pub final_top1: Option<f64>,
    pub best_top1: Option<f64>,
    /// Stopped by Ctrl-C (or a simulated crash) before the end.
    pub interrupted: bool,
    /// Image files left out as unreadable (`data.skip_unreadable`), train and val.
    pub skipped: usize,
}

/// How an epoch's step loop ended.
enum Flow {
    /// Every step ran.
    Continue,
    /// Ctrl-C: the checkpoint is saved.
    Stop,
    /// `crash_after_steps` was reached (tests): nothing is saved.
    Crash,
}

/// A run directory `--resume` continues: locked for this process, of this very recipe, with
/// its checkpoint (none when the run was stopped before its first one).
struct Resumed {
    dir: PathBuf,
    lock: run_dir::Lock,
    checkpoint: Option<PathBuf>,
}

/// The newest run directory under `root`, locked before anything else is looked at (a
/// second writer is refused at once), and checked to be of the recipe whose hash is `hash`.
fn resume_target(root: &Path, hash: &str, resolved: &str) -> Result<Resumed, RunError> {
    let dir = run_dir::existing(root)
        .pop()
        .ok_or_else(|| RunError::NothingToResume {
            dir: root.display().to_string(),
        })?;
    let lock = run_dir::lock(&dir).map_err(|e| match e {
        run_dir::LockError::Held { pid } => RunError::Locked {
            dir: dir.display().to_string(),
            pid,
        },
        run_dir::LockError::Io(f) => f.into(),
    })?;
    let ckpt = dir.join("checkpoint.safetensors");
    let checkpoint = ckpt.exists().then_some(ckpt);
    match run_dir::recorded_hash(&dir) {
        Some(h) if h == hash => {}
        // Killed between creating the directory and writing `resolved.ron`: nothing of
        // another recipe is in it, so it is this run's.
        None if checkpoint.is_none() => {
            run_dir::write_resolved(&dir, &format!("// hash {hash}\n{resolved}"))?;
        }
        _ => {
            return Err(RunError::ResumeMismatch {
                dir: dir.display().to_string(),
            })
        }
    }
    // What a crashed writer left half-written (the lock says it is gone).
    run_dir::remove_temporaries(&dir);
    Ok(Resumed {
        dir,
        lock,
        checkpoint,
    })
}

/// Whether a checkpoint is due after a step, `steps` optimizer steps into the run and
/// `since` after the last checkpoint (or the start): `train.checkpoint_every` in steps or
/// time. Epochs are counted at the epoch's end.
pub fn checkpoint_due_after_step(every: Every, steps: u64, since: std::time::Duration) -> bool {
    match every {
        Every::Epochs(_) => false,
        Every::Steps(n) => steps.is_multiple_of(n.max(1)),
        Every::Seconds(s) => since.as_secs_f64() >= s.max(1) as f64,
    }
}

/// The last checkpoint written: where, and the position it holds.
fn saved_at(path: &Path, pos: &Position, steps: u64) -> Saved {
    Saved {
        path: path.display().to_string(),
        at: pos.describe(),
        steps,
    }
}

/// Trains `recipe` (whose resolved RON is `resolved`) to the end of its schedule, with its
/// graph (and a deitc teacher's) from `graphs`.
///
/// The run directory is locked for this process while it trains ([`run_dir::Lock`]):
/// `--resume` on a directory another process is writing is refused (`deit::run::locked`).
/// `checkpoint.safetensors` is written every `train.checkpoint_every` (mid-epoch for steps
/// and time), at the end, on Ctrl-C and before a data or teacher error; `--resume` goes on
/// from it bit-exactly, mid-epoch included.
pub fn run(
    graphs: &Registry,
    recipe: &Recipe,
    resolved: &str,
    opts: &RunOptions,
    log: &mut dyn FnMut(&str),
) -> Result<RunReport, RunError> {
    let hash = run_dir::recipe_hash(resolved);
    let root = run_dir::runs_of(&recipe.train.output, &recipe.name);
    // `--resume`: the directory is found and locked first, so that a second writer, a
    // changed recipe or nothing to resume is said at once, before any data is loaded.
    let resumed = if opts.resume {
        Some(resume_target(&root, &hash, resolved)?)
    } else {
        None
    };
    let trained = eval_mode_finetune(recipe);
    let mut graph = graphs.build(
        trained.as_ref().unwrap_or(recipe),
        recipe.train.seed,
        recipe.train.device,
    )?;
    let loader = Loader::new(recipe).map_err(|e| RunError::DataLoad {
        message: e.to_string(),
    })?;
    let teacher = teacher::build(graphs, recipe)?;

    // `finetune { from = … }`: a fresh run starts from those weights (a resumed one from its
    // own checkpoint). Loaded before the run directory exists, so a bad file leaves none.
    let from_scratch = resumed.as_ref().is_none_or(|r| r.checkpoint.is_none());
    let finetuned = match &recipe.finetune {
        Some(ft) if from_scratch => Some({
            // A stage's output: the checkpoint of its latest finished run.
            let mut ft = ft.clone();
            if let Some(s) = &ft.from_stage {
                ft.from = super::stages::output(s)
                    .map_err(|message| RunError::StageNotRun { message })?
                    .display()
                    .to_string();
            }
            let ft = &ft;
            crate::interop::finetune::apply(graph.as_mut(), recipe, ft).map_err(|errors| {
                RunError::Interop(errors.into_iter().next().unwrap_or(InteropError::Internal {
                    message: "fine-tuning failed without a reason".into(),
                }))
            })?
        }),
        _ => None,
    };

    let fresh = Position {
        recipe_hash: hash.clone(),
        ..Position::default()
    };
    // `_lock` is held to the end of the run; the OS drops it if the process dies.
    let (dir, _lock, mut pos, mut last_saved) = match resumed {
        Some(Resumed {
            dir,
            lock,
            checkpoint: Some(ckpt),
        }) => {
            // Non-finite weights are `deit::interop::non_finite`, naming the tensor.
            let pos = checkpoint::load(&ckpt, graph.as_mut())
                .map_err(|e| RunError::resuming(&ckpt.display().to_string(), e))?;
            let saved = saved_at(&ckpt, &pos, graph.steps());
            (dir, lock, pos, Some(saved))
        }
        Some(Resumed {
            dir,
            lock,
            checkpoint: None,
        }) => {
            log(&format!(
                "{} holds no checkpoint yet: training it again from the start\n",
                dir.display()
            ));
            (dir, lock, fresh, None)
        }
        None => {
            let (dir, lock) = run_dir::create(&root, resolved)?;
            (dir, lock, fresh, None)
        }
    };
    if opts.resume {
        // The epochs after the checkpoint are trained (and logged) again.
        super::metrics::keep_epochs(&dir, pos.epoch)?;
    }
    // A new events file per process; on `--resume` it tells TensorBoard to drop what the
    // earlier files hold after the checkpoint.
    let mut tb = TrainLog::open(&dir, resolved, graph.steps())?;
    log(&format!("run directory {}\n", dir.display()));
    for (split, d) in [("train", &loader.train), ("val", &loader.val)] {
        if d.is_streamed() {
            log(&format!(
                "streaming the {split} split from disk ({} images; `data.preload`)\n",
                d.len()
            ));
        }
        if let Some((_, why)) = d.skipped.first() {
            log(&format!(
                "warning: skipped {} unreadable {split} image(s) (`data.skip_unreadable`); \
                 the first: {why}\n",
                d.skipped.len(),
            ));
        }
    }
    if let Some(loaded) = &finetuned {
        let mode = if trained.is_some() {
            " · eval mode (no drop-path, no dropout: `finetune.train_mode = false`)"
        } else {
            ""
        };
        log(&format!("{}{mode}\n", loaded.describe()));
    }

    let spe = loader.steps_per_epoch() as u64;
    let schedule = LrSchedule::new(recipe, spe);
    let epochs = match recipe.schedule.length {
        Duration::Epochs(e) => e,
        Duration::Steps(s) => s.div_ceil(spe.max(1)),
    };
    let every = |d: Duration, epoch: u64| match d {
        Duration::Epochs(n) => epoch.is_multiple_of(n.max(1)),
        Duration::Steps(n) => (epoch * spe) / n.max(1) != ((epoch - 1) * spe) / n.max(1),
    };
    let checkpoint_every = recipe.train.checkpoint_every;
    let ckpt_path = dir.join("checkpoint.safetensors");
    let bar = progress_bar(opts.progress, spe);
    let started = Instant::now();
    let mut last_write = Instant::now();
    let mut last_top1 = pos.last_top1;
    let mut interrupted = false;

    while pos.epoch < epochs {
        let epoch = pos.epoch;
        let t0 = Instant::now();
        let order = loader.order(epoch);
        // A mid-epoch checkpoint carries the loss of the steps before it.
        let (mut loss_sum, mut seen) = (pos.epoch_loss, pos.epoch_samples as usize);
        let mut seen_now = 0usize;
        let first = pos.step_in_epoch as usize;
        let mut lr = match first {
            0 => 0.0,
            s => schedule.lr(epoch, s as u64 - 1),
        };
        let mut teacher_s = 0.0;
        let mut tally = teacher
            .as_ref()
            .map(|_| TeacherTally::new(recipe.distill.alpha));
        // Epoch-end checkpoint due by steps or time at the epoch's last step.
        let mut due_at_end = false;
        bar.set_position(pos.step_in_epoch);
        bar.set_message(format!("epoch {}/{epochs}", epoch + 1));
        // The next batches are built on a second thread while this one trains (at most two
        // ahead); every batch is a pure function of (seed, epoch, step), so prefetching
        // changes nothing but the wall time, and a resumed run starts at any step.
        let flow = std::thread::scope(|scope| -> Result<Flow, RunError> {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let (loader, order) = (&loader, &order);
            scope.spawn(move || {
                for step in first..loader.steps_per_epoch() {
                    let batch = loader.train_batch(epoch, step, order);
                    let failed = batch.is_err();
                    if tx.send(batch).is_err() || failed {
                        break;
                    }
                }
            });
            // Saves `checkpoint.safetensors` with `done` steps of this epoch behind it.
            let save_mid = |pos: &mut Position,
                            done: usize,
                            loss_sum: f64,
                            seen: usize,
                            graph: &dyn Graph,
                            last_saved: &mut Option<Saved>|
             -> Result<(), RunError> {
                pos.step_in_epoch = done as u64;
                pos.epoch_loss = loss_sum;
                pos.epoch_samples = seen as u64;
                save(&ckpt_path, graph, pos, spe, last_saved)
            };
            for step in first..loader.steps_per_epoch() {
                let batch = rx.recv().map_err(|_| RunError::Internal {
                    message: "the data thread stopped early".into(),
                })?;
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        // Keep the steps trained so far: fix or skip the file, then resume.
                        save_mid(
                            &mut pos,
                            step,
                            loss_sum,
                            seen,
                            graph.as_ref(),
                            &mut last_saved,
                        )?;
                        return Err(RunError::DataLoad {
                            message: format!(
                                "{e} (stopped at epoch {}, step {}, with the steps before it \
                                 saved: replace or remove the file, then run again with \
                                 --resume)",
                                epoch + 1,
                                step + 1
                            ),
                        });
                    }
                };
                lr = schedule.lr(epoch, step as u64);
                let t_teacher = Instant::now();
                let teacher_logits = match &teacher {
                    // NaN or infinite logits stop the run (`deit::run::teacher`).
                    Some(t) => {
                        match teacher::finite_logits(t.as_ref(), &batch.images, batch.size) {
                            Ok(logits) => Some(logits),
                            Err(e) => {
                                // Keep the steps trained so far, as for a data error.
                                save_mid(
                                    &mut pos,
                                    step,
                                    loss_sum,
                                    seen,
                                    graph.as_ref(),
                                    &mut last_saved,
                                )?;
                                return Err(RunError::Teacher {
                                    message: format!(
                                        "{e} (stopped at epoch {}, step {}, with the steps before \
                                     it saved)",
                                        epoch + 1,
                                        step + 1
                                    ),
                                });
                            }
                        }
                    }
                    None => None,
                };
                let step_teacher_s = t_teacher.elapsed().as_secs_f64();
                teacher_s += step_teacher_s;
                if epoch == 0 && step == 0 {
                    tb.samples(&batch, loader, &recipe.data.mean, &recipe.data.std)?;
                }
                let host = HostBatch {
                    images: &batch.images,
                    targets: &batch.targets,
                    size: batch.size,
                };
                let stats = graph
                    .train_step(host, teacher_logits.as_deref(), lr)
                    .map_err(|e| match e {
                        GraphError::NonFinite { loss } => RunError::NonFinite {
                            epoch: epoch + 1,
                            step: step as u64 + 1,
                            loss,
                            tensor: None,
                            saved: last_saved.clone(),
                        },
                        GraphError::NonFiniteGradient { norm } => RunError::NonFiniteGradient {
                            epoch: epoch + 1,
                            step: step as u64 + 1,
                            norm,
                            saved: last_saved.clone(),
                        },
                        other => RunError::Internal {
                            message: other.to_string(),
                        },
                    })?;
                tb.step(graph.steps(), &stats, lr)?;
                if let (Some(t), Some(logits)) = (&mut tally, &teacher_logits) {
                    t.add(
                        logits,
                        &batch.labels,
                        graph.classes(),
                        &stats,
                        step_teacher_s,
                    );
                }
                loss_sum += stats.loss * batch.size as f64;
                seen += batch.size;
                seen_now += batch.size;
                bar.inc(1);
                // The teacher's share of the epoch's wall time so far.
                let share = match teacher {
                    Some(_) => format!(
                        " · teacher {:.0}%",
                        100.0 * teacher_s / t0.elapsed().as_secs_f64().max(1e-9)
                    ),
                    None => String::new(),
                };
                bar.set_message(format!(
                    "epoch {}/{epochs} · loss {:.4} · lr {lr:.2e}{share}",
                    epoch + 1,
                    stats.loss
                ));
                super::fault::after_step(graph.steps());
                if opts.crash_after_steps.is_some_and(|n| graph.steps() >= n) {
                    return Ok(Flow::Crash);
                }
                if STOP.load(Ordering::SeqCst) {
                    tb.sync()?;
                    save_mid(
                        &mut pos,
                        step + 1,
                        loss_sum,
                        seen,
                        graph.as_ref(),
                        &mut last_saved,
                    )?;
                    return Ok(Flow::Stop);
                }
                if checkpoint_due_after_step(checkpoint_every, graph.steps(), last_write.elapsed())
                {
                    if step + 1 < loader.steps_per_epoch() {
                        tb.sync()?;
                        save_mid(
                            &mut pos,
                            step + 1,
                            loss_sum,
                            seen,
                            graph.as_ref(),
                            &mut last_saved,
                        )?;
                        last_write = Instant::now();
                    } else {
                        // The epoch's last step: saved after its evaluation and metrics.
                        due_at_end = true;
                    }
                }
            }
            Ok(Flow::Continue)
        })?;
        match flow {
            Flow::Continue => {}
            Flow::Stop => interrupted = true,
            Flow::Crash => {
                return Ok(RunReport {
                    dir,
                    epochs: epoch,
                    steps: graph.steps(),
                    final_top1: None,
                    best_top1: pos.best_top1,
                    interrupted: true,
                    skipped: loader.unreadable().len(),
                })
            }
        }
        if interrupted {
            log(&format!(
                "interrupted: saved {} (resume with --resume)\n",
                ckpt_path.display()
            ));
            break;
        }
        bar.reset();
        pos.epoch += 1;
        pos.step_in_epoch = 0;
        (pos.epoch_loss, pos.epoch_samples) = (0.0, 0);
        let train_s = t0.elapsed().as_secs_f64();
        let last = pos.epoch == epochs;
        let mut m = EpochMetrics {
            epoch: pos.epoch,
            step: graph.steps(),
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            val_top1: None,
            val_top5: None,
            val_loss: None,
            ema_top1: None,
            img_per_s: seen_now as f64 / train_s.max(1e-9),
            wall_s: started.elapsed().as_secs_f64(),
        };
        if last || every(recipe.train.eval_every, pos.epoch) {
            let (t1, t5, l) = evaluate(graph.as_ref(), &loader, false).map_err(eval_failed)?;
            (m.val_top1, m.val_top5, m.val_loss) = (Some(t1), Some(t5), Some(l));
            if recipe.train.ema_eval && graph.has_ema() {
                m.ema_top1 = Some(
                    evaluate(graph.as_ref(), &loader, true)
                        .map_err(eval_failed)?
                        .0,
                );
            }
            last_top1 = Some(t1);
            pos.last_top1 = Some(t1);
            if pos.best_top1.is_none_or(|b| t1 > b) {
                pos.best_top1 = Some(t1);
                // A failure names the last checkpoint; `best` does not replace it.
                let mut kept = last_saved.clone();
                let best = dir.join("best.safetensors");
                save(&best, graph.as_ref(), &pos, spe, &mut kept)?;
            }
        }
        m.wall_s = started.elapsed().as_secs_f64();
        m.append(&dir)?;
        tb.epoch(&m, tally.as_ref(), train_s)?;
        let due = match checkpoint_every {
            Every::Epochs(n) => pos.epoch.is_multiple_of(n.max(1)),
            Every::Steps(_) | Every::Seconds(_) => due_at_end,
        };
        if last || due {
            tb.sync()?;
            save(&ckpt_path, graph.as_ref(), &pos, spe, &mut last_saved)?;
            last_write = Instant::now();
        }
        report_epoch(opts.progress, &m, epochs, log);
    }
    bar.finish_and_clear();
    let skipped = loader.unreadable();
    let streamed = loader.train.is_streamed() || loader.val.is_streamed();
    if let (true, Some((_, why))) = (streamed, skipped.first()) {
        log(&format!(
            "warning: passed over {} unreadable image(s) (`data.skip_unreadable`); the \
             first: {why}\n",
            skipped.len()
        ));
    }
    let skipped = skipped.len();
    if !interrupted && pos.epoch == epochs {
        let summary = run_dir::Summary {
            epochs: pos.epoch,
            steps: graph.steps(),
            final_top1: last_top1,
            best_top1: pos.best_top1,
        };
        summary.write(&dir)?;
    }
    Ok(RunReport {
        dir,
        epochs: pos.epoch,
        steps: graph.steps(),
        final_top1: last_top1,
        best_top1: pos.best_top1,
        interrupted,
        skipped,
    })
}

/// With `finetune.train_mode = false`, the recipe the graph is built from: DeiT-I fine-tuned
/// with the model in eval mode, i.e. without stochastic depth and dropout. `None` when that
/// changes nothing.
fn eval_mode_finetune(r: &Recipe) -> Option<Recipe> {
    let ft = r.finetune.as_ref()?;
    if ft.train_mode || (r.model.drop_path == 0.0 && r.model.dropout == 0.0) {
        return None;
    }
    let mut r = r.clone();
    r.model.drop_path = 0.0;
    r.model.dropout = 0.0;
    Some(r)
}

/// Writes the checkpoint `path` at `pos`; `saved` is the last good checkpoint so far,
/// updated when this one is written. Weights that are no longer finite are not written:
/// the run stops with `deit::run::non_finite` naming the tensor and the kept checkpoint.
fn save(
    path: &Path,
    graph: &dyn Graph,
    pos: &Position,
    steps_per_epoch: u64,
    saved: &mut Option<Saved>,
) -> Result<(), RunError> {
    match checkpoint::save(path, graph, pos) {
        Ok(()) => {
            *saved = Some(saved_at(path, pos, graph.steps()));
            Ok(())
        }
        Err(CheckpointError::Write(f)) => Err(f.into()),
        Err(CheckpointError::NonFinite { tensor }) => {
            // The position just reached: the end of an epoch, or a step within one.
            let (epoch, step) = match pos.step_in_epoch {
                0 => (pos.epoch, steps_per_epoch),
                s => (pos.epoch + 1, s),
            };
            Err(RunError::NonFinite {
                epoch,
                step,
                loss: f64::NAN,
                tensor: Some(tensor),
                saved: saved.clone(),
            })
        }
        Err(e) => Err(RunError::Internal {
            message: format!("writing `{}`: {e}", path.display()),
        }),
    }
}

fn eval_failed(e: EvalError) -> RunError {
    match e {
        EvalError::Data(e) => data_load(e),
        EvalError::Graph(e) => RunError::Internal {
            message: e.to_string(),
        },
    }
}

fn data_load(e: DataError) -> RunError {
    RunError::DataLoad {
        message: e.to_string(),
    }
}

/// Why an evaluation stopped: a streamed validation image could not be read, or the graph
/// failed.
#[derive(Debug)]
pub enum EvalError {
    Data(DataError),
    Graph(GraphError),
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Data(e) => e.fmt(f),
            EvalError::Graph(e) => e.fmt(f),
        }
    }
}

/// Top-1, top-5 and mean cross-entropy on the validation split.
pub fn evaluate(
    graph: &dyn Graph,
    loader: &Loader,
    ema: bool,
) -> Result<(f64, f64, f64), EvalError> {
    let k = graph.classes();
    let (mut t1, mut t5, mut loss, mut n) = (0usize, 0usize, 0.0, 0usize);
    for batch in loader.eval() {
        let batch = batch.map_err(EvalError::Data)?;
        let logits = graph
            .eval_logits(&batch.images, batch.size, ema)
            .map_err(EvalError::Graph)?;
        let (a, b, l) = score(&logits, &batch.labels, k);
        (t1, t5, loss, n) = (t1 + a, t5 + b, loss + l, n + batch.size);
    }
    let n = n.max(1) as f64;
    Ok((t1 as f64 / n, t5 as f64 / n, loss / n))
}

fn progress_bar(p: Progress, steps: u64) -> indicatif::ProgressBar {
    if p != Progress::Bar {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} · {per_sec} · ETA {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

fn report_epoch(p: Progress, m: &EpochMetrics, epochs: u64, log: &mut dyn FnMut(&str)) {
    match p {
        Progress::Json => log(&format!(
            "{}\n",
            serde_json::to_string(m).unwrap_or_default()
        )),
        Progress::Bar => {
            let val = match (m.val_top1, m.val_top5) {
                (Some(a), Some(b)) => format!(" · val top-1 {a:.4} top-5 {b:.4}"),
                _ => String::new(),
            };
            log(&format!(
                "epoch {}/{epochs} · loss {:.4} · lr {:.2e}{val} · {:.0} img/s · {:.0}s\n",
                m.epoch, m.train_loss, m.lr, m.img_per_s, m.wall_s
            ));
        }
        Progress::Quiet => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Wall;

    #[test]
    fn step_and_time_checkpoints_fall_due_after_the_step_that_reaches_them() {
        let due =
            |every, steps, secs| checkpoint_due_after_step(every, steps, Wall::from_secs(secs));
        // Steps: exactly at the multiples, wherever they fall in an epoch.
        let hits: Vec<u64> = (1..=12).filter(|&s| due(Every::Steps(4), s, 0)).collect();
        assert_eq!(hits, [4, 8, 12]);
        // Time: once the period has passed since the last checkpoint.
        assert!(!due(Every::Seconds(1800), 7, 1799));
        assert!(due(Every::Seconds(1800), 7, 1800));
        // Epochs are counted at the epoch's end, never after a step.
        assert!(!due(Every::Epochs(1), 6, 10_000));
    }
}
