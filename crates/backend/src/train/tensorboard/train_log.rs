//! [`TrainLog`]: what the training loop writes for TensorBoard — per step, per epoch, and
//! once per run directory — into a new events file of the run directory per process.

use super::proto::{Event, Value};
use super::writer::{drop_torn_tails, events_files, now, EventWriter};
use crate::data::loader::Batch;
use crate::data::preview::{compose, Tile};
use crate::data::Loader;
use crate::train::graph::StepStats;
use crate::train::metrics::EpochMetrics;
use crate::train::tensor_io::WriteFailure;
use std::path::Path;

/// The tags, in one place (docs/training.md lists them).
pub mod tag {
    /// Per step: the step's training loss (the batch mean).
    pub const LOSS: &str = "train/loss";
    /// Per step: the step's learning rate.
    pub const LR: &str = "train/lr";
    /// Per step: the global L2 norm of the gradients, before clipping.
    pub const GRAD_NORM: &str = "train/grad_norm";
    /// Per epoch: `metrics.jsonl`'s `train_loss` (mean over the epoch's samples).
    pub const EPOCH_LOSS: &str = "train/epoch_loss";
    /// Per epoch: finished epochs (maps steps to epochs).
    pub const EPOCH: &str = "train/epoch";
    pub const VAL_TOP1: &str = "val/top1";
    pub const VAL_TOP5: &str = "val/top5";
    pub const VAL_LOSS: &str = "val/loss";
    pub const EMA_TOP1: &str = "val/ema_top1";
    pub const IMG_PER_S: &str = "perf/img_per_s";
    /// Per epoch, distilled runs: the distillation term's share of the training loss.
    pub const TEACHER_SHARE: &str = "distill/teacher_share";
    /// Per epoch, distilled runs: how often the teacher's top-1 is the sample's label.
    pub const TEACHER_AGREEMENT: &str = "distill/teacher_agreement";
    /// Per epoch, distilled runs: the teacher's share of the epoch's training wall time.
    pub const TEACHER_TIME: &str = "perf/teacher_time_share";
    /// Once, at step 0: `resolved.ron`, as text.
    pub const RECIPE: &str = "recipe/resolved";
    /// Once, at step 0: the first training batch's samples, as the model sees them.
    pub const SAMPLES: &str = "train/samples";
}

/// How many samples of the first batch the image grid shows.
const GRID_SAMPLES: usize = 16;

/// The TensorBoard log of one process training a run directory.
#[derive(Debug)]
pub struct TrainLog {
    writer: EventWriter,
    /// The directory had no events file before: the recipe and the sample grid go in this one.
    first: bool,
}

impl TrainLog {
    /// Starts a new events file in `dir` for a process whose graph is `steps` optimizer steps
    /// into the run (the checkpoint's, when resuming).
    ///
    /// Every file starts with a `SessionLog.START` at step `steps + 1`. In a later file
    /// (`--resume`, after the earlier files' torn last records are cut off) it makes
    /// TensorBoard discard what the earlier files hold from that step on: the steps trained
    /// after the checkpoint, which this process trains again, so each step is shown once.
    /// The first file of a directory also gets the recipe (`resolved.ron`, else `resolved`),
    /// at step 0.
    pub fn open(dir: &Path, resolved: &str, steps: u64) -> Result<Self, WriteFailure> {
        drop_torn_tails(dir)?;
        let first = events_files(dir).is_empty();
        let mut writer = EventWriter::create(dir)?;
        let wall = now();
        // TensorBoard takes a run's first START for the session's beginning and every later
        // one for a restart (its server's reader ignores a first START), so each process
        // writes one.
        writer.write(&Event::start(wall, as_step(steps + 1)))?;
        if first {
            let text = std::fs::read_to_string(dir.join("resolved.ron"))
                .unwrap_or_else(|_| resolved.to_string());
            let value = Value::text(tag::RECIPE, &fenced(&text));
            writer.write(&Event::summary(wall, 0, vec![value]))?;
        }
        writer.flush()?;
        Ok(TrainLog { writer, first })
    }

    /// The events file this process writes.
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// After optimizer step `step` (the global count, 1-based): its loss, learning rate and
    /// gradient norm.
    pub fn step(&mut self, step: u64, stats: &StepStats, lr: f64) -> Result<(), WriteFailure> {
        let values = vec![
            Value::scalar(tag::LOSS, stats.loss as f32),
            Value::scalar(tag::LR, lr as f32),
            Value::scalar(tag::GRAD_NORM, stats.grad_norm as f32),
        ];
        self.writer
            .write(&Event::summary(now(), as_step(step), values))
    }

    /// At an epoch's end, at its global step: what `metrics.jsonl` got, and the teacher's
    /// figures of a distilled run; then everything is flushed, so that a running TensorBoard
    /// shows the epoch.
    pub fn epoch(
        &mut self,
        m: &EpochMetrics,
        teacher: Option<&TeacherTally>,
        train_s: f64,
    ) -> Result<(), WriteFailure> {
        let mut values = vec![
            Value::scalar(tag::EPOCH_LOSS, m.train_loss as f32),
            Value::scalar(tag::EPOCH, m.epoch as f32),
            Value::scalar(tag::IMG_PER_S, m.img_per_s as f32),
        ];
        for (t, v) in [
            (tag::VAL_TOP1, m.val_top1),
            (tag::VAL_TOP5, m.val_top5),
            (tag::VAL_LOSS, m.val_loss),
            (tag::EMA_TOP1, m.ema_top1),
        ] {
            if let Some(v) = v {
                values.push(Value::scalar(t, v as f32));
            }
        }
        if let Some(t) = teacher {
            for (tag, v) in [
                (tag::TEACHER_SHARE, t.share()),
                (tag::TEACHER_AGREEMENT, t.agreement()),
                (tag::TEACHER_TIME, t.time_share(train_s)),
            ] {
                if let Some(v) = v {
                    values.push(Value::scalar(tag, v as f32));
                }
            }
        }
        self.writer
            .write(&Event::summary(now(), as_step(m.step), values))?;
        self.flush()
    }

    /// A grid of (at most 16 of) the first training batch's samples, denormalised as
    /// `deitc preview` draws them, captioned with their class (and the mix partner's with λ),
    /// at step 0; only into a directory's first events file.
    pub fn samples(
        &mut self,
        batch: &Batch,
        loader: &Loader,
        mean: &[f64],
        std: &[f64],
    ) -> Result<(), WriteFailure> {
        if !self.first {
            return Ok(());
        }
        self.first = false;
        let (channels, side, _) = loader.image_shape();
        let per = channels * side * side;
        let name = |label: u16| loader.train.class_name(label);
        let b = batch.size;
        let tiles: Vec<Tile<'_>> = (0..b.min(GRID_SAMPLES))
            .filter_map(|k| {
                let image = batch.images.get(k * per..(k + 1) * per)?;
                let label = *batch.labels.get(k)?;
                let mix = match batch.labels.get(b - 1 - k) {
                    Some(&partner) if batch.lam < 1.0 => {
                        format!("λ{:.2} +{}", batch.lam, name(partner))
                    }
                    _ => String::new(),
                };
                Some(Tile {
                    image,
                    caption: [name(label), mix, String::new()],
                })
            })
            .collect();
        if tiles.is_empty() {
            return Ok(());
        }
        let sheet = compose(&tiles, channels, side, mean, std);
        let failed =
            |e: String| WriteFailure::new(self.writer.path(), None, std::io::Error::other(e));
        let png = sheet.png().map_err(failed)?;
        let (w, h) = (sheet.width as u32, sheet.height as u32);
        let value = Value::png(tag::SAMPLES, w, h, png);
        self.writer.write(&Event::summary(now(), 0, vec![value]))
    }

    /// Hands what is buffered to the OS (a running TensorBoard then reads it).
    pub fn flush(&mut self) -> Result<(), WriteFailure> {
        self.writer.flush()
    }

    /// Puts every step logged so far on the disk; called before a checkpoint is written, so
    /// that the events files hold at least the steps of any checkpoint a run resumes from
    /// (the steps after it are the ones the resumed run discards and logs again).
    pub fn sync(&mut self) -> Result<(), WriteFailure> {
        self.writer.sync()
    }
}

/// A step as TensorBoard's `int64`.
fn as_step(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// `text` in a fenced code block, so that TensorBoard's Markdown rendering shows it as
/// written: the fence is longer than any run of backticks in it.
pub fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let nl = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}\n{text}{nl}{fence}\n")
}

/// The teacher's figures of a distilled run, added up over an epoch's steps from what the
/// loop has on the host anyway (no extra device read): the step's losses (already read back
/// together), the teacher's logits and the labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeacherTally {
    /// `distill.alpha`.
    pub alpha: f64,
    pub samples: u64,
    /// Samples whose teacher top-1 is their own label (before mixing).
    pub agreeing: u64,
    /// Σ batch size × the step's total loss, and × its distillation loss (unweighted).
    pub loss: f64,
    pub kd: f64,
    /// Wall seconds spent computing the teacher's logits.
    pub teacher_s: f64,
}

impl TeacherTally {
    pub fn new(alpha: f64) -> Self {
        TeacherTally {
            alpha,
            ..TeacherTally::default()
        }
    }

    /// Adds a step of `n` samples: the teacher's `n × k` logits, their labels, the step's
    /// losses and the teacher's wall time.
    pub fn add(
        &mut self,
        logits: &[f32],
        labels: &[u16],
        k: usize,
        stats: &StepStats,
        teacher_s: f64,
    ) {
        let n = labels.len();
        self.samples += n as u64;
        self.agreeing += agreeing(logits, labels, k) as u64;
        self.loss += stats.loss * n as f64;
        self.kd += stats.kd * n as f64;
        self.teacher_s += teacher_s;
    }

    /// `α · mean kd / mean loss`: the share of the training loss `(1−α)·base + α·kd` that the
    /// distillation term makes up, over the epoch's samples (none before any loss).
    pub fn share(&self) -> Option<f64> {
        (self.loss > 0.0).then(|| self.alpha * self.kd / self.loss)
    }

    /// The fraction of the epoch's samples whose teacher top-1 is their own label.
    pub fn agreement(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.agreeing as f64 / self.samples as f64)
    }

    /// The teacher's share of `train_s` wall seconds.
    pub fn time_share(&self, train_s: f64) -> Option<f64> {
        (train_s > 0.0).then(|| (self.teacher_s / train_s).min(1.0))
    }
}

/// How many rows of `logits` (`n × k`) have their label as top-1 (the first maximum, as the
/// hard-distillation target takes it).
pub fn agreeing(logits: &[f32], labels: &[u16], k: usize) -> usize {
    logits
        .chunks(k.max(1))
        .zip(labels)
        .filter(|(row, &y)| crate::train::losses::argmax(row) == usize::from(y))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_takes_the_first_maximum_like_the_hard_target() {
        let logits = [
            0.0, 3.0, 1.0, /* tie */ 2.0, 2.0, 0.0, /* */ 5.0, 0.0, 0.0,
        ];
        assert_eq!(agreeing(&logits, &[1, 0, 2], 3), 2);
        assert_eq!(agreeing(&logits, &[1, 1, 0], 3), 2);
        let mut t = TeacherTally::new(0.5);
        let stats = StepStats {
            loss: 2.0,
            kd: 1.0,
            ..StepStats::default()
        };
        t.add(&logits, &[1, 0, 2], 3, &stats, 0.25);
        assert_eq!(t.agreement(), Some(2.0 / 3.0));
        assert_eq!(t.share(), Some(0.25));
        assert_eq!(t.time_share(1.0), Some(0.25));
        assert_eq!(TeacherTally::new(0.5).share(), None);
    }

    #[test]
    fn a_reopened_log_restarts_after_the_checkpoint_and_shows_each_step_once() {
        use super::super::reader;
        let dir = std::env::temp_dir().join(format!("deitc-tb-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("resolved.ron"), "// hash 0\n(name: \"x\")\n").expect("ron");
        let stats = |loss: f64| StepStats {
            loss,
            grad_norm: 0.5,
            ..StepStats::default()
        };
        let mut log = TrainLog::open(&dir, "ignored", 0).expect("open");
        for s in 1..=5 {
            log.step(s, &stats(s as f64), 0.1).expect("step");
        }
        let first = log.path().to_path_buf();
        drop(log); // flushes
        let loaded = reader::load(&dir).expect("load");
        let losses = |r: &reader::RunEvents| r.scalar(tag::LOSS).to_vec();
        assert_eq!(losses(&loaded).len(), 5);
        assert_eq!(
            loaded.texts[tag::RECIPE],
            [(0, "```\n// hash 0\n(name: \"x\")\n```\n".to_string())]
        );
        // A crash tore the last record; the process resumes from a checkpoint at step 3.
        let mut bytes = std::fs::read(&first).expect("read");
        let whole = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0]);
        std::fs::write(&first, &bytes).expect("tear");
        // And a process killed as it created its file left it empty.
        let empty = dir.join(format!(
            "{}0000000001.host.1.deitc",
            super::super::writer::PREFIX
        ));
        std::fs::write(&empty, b"").expect("empty");
        let mut log = TrainLog::open(&dir, "ignored", 3).expect("reopen");
        assert!(!empty.exists());
        assert_eq!(std::fs::metadata(&first).expect("meta").len(), whole as u64);
        assert!(log.path() > first.as_path(), "{:?}", log.path());
        for s in 4..=5 {
            log.step(s, &stats(10.0 * s as f64), 0.1).expect("step");
        }
        log.flush().expect("flush");
        let loaded = reader::load(&dir).expect("load");
        assert_eq!(loaded.starts, [1, 4]);
        assert_eq!(
            losses(&loaded),
            [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0)]
        );
        assert_eq!(loaded.texts[tag::RECIPE].len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fences_outgrow_the_backticks_inside() {
        assert_eq!(fenced("(a: 1)\n"), "```\n(a: 1)\n```\n");
        assert_eq!(fenced("x ```` y"), "`````\nx ```` y\n`````\n");
    }
}
