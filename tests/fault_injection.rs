//! Fault injection through the `deitc` binary. Runs of a tiny recipe are crashed at random
//! points — aborted right after an optimizer step, aborted half-way through a checkpoint
//! write, failed by a full disk, killed with SIGKILL at a random moment, held while a second
//! process tries to resume them — and resumed until they finish; each must end with the very
//! tensors (model, EMA, optimizer moments) and metrics of an uninterrupted run, bit for bit.
//!
//! The exact crash points come from `DEITC_FAULT`, a test-only hook of the binary
//! (crates/backend/src/train/fault.rs). The random draws come from a seed the test prints;
//! `DEITC_FAULT_SEED=<n>` replays it and `DEITC_FAULT_TRIALS=<n>` runs more trials (4 by
//! default, about half a minute in a debug build on two cores).

mod common;

use common::temp_dir;
use deitc::model::TensorFile;
use deitc::train::run_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_deitc");
/// Steps of the recipe: 4 epochs of 6.
const STEPS: u64 = 24;

/// The recipe of [`tiny`]: the compiled `test_tiny` shape on 200 synthetic images, with
/// stochastic depth, random crops, an EMA, and a checkpoint every 5 steps (mid-epoch).
fn tiny(dir: &Path) -> PathBuf {
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n    drop_path = 0.1\n}}\n\
         data {{\n    train = synthetic(samples = 200, classes = 10)\n    val = synthetic(samples = 100, classes = 10, seed = 1)\n}}\n\
         augment {{\n    crop {{\n        kind = random\n        padding = 2\n    }}\n    repeated = 1\n}}\n\
         optimizer.lr = 2e-3\n\
         schedule {{\n    length = 4 epochs\n    warmup = 1 epoch\n    unit = steps\n}}\n\
         train {{\n    batch = 32\n    ema = 0.9\n    checkpoint_every = 5 steps\n    output = \"{}\"\n}}\n",
        dir.join("runs").display()
    );
    let path = dir.join("tiny.deit");
    std::fs::write(&path, text).expect("write recipe");
    path
}

fn command(recipe: &Path, resume: bool, fault: Option<&str>) -> Command {
    command_with(recipe, &[], resume, fault)
}

fn command_with(recipe: &Path, sets: &[&str], resume: bool, fault: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    c.args(["run", &recipe.to_string_lossy(), "--quiet"]);
    for s in sets {
        c.args(["--set", s]);
    }
    if resume {
        c.arg("--resume");
    }
    match fault {
        Some(f) => c.env("DEITC_FAULT", f),
        None => c.env_remove("DEITC_FAULT"),
    };
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The run directory of the recipe in `dir` (there is one per trial).
fn run_dir_of(dir: &Path) -> PathBuf {
    dir.join("runs/tiny/001")
}

/// Everything a finished run leaves that must not depend on crashes: each checkpoint's
/// tensors and position, the metrics without wall-clock columns, the summary, and what
/// TensorBoard shows of the events files without wall-clock values (every record whole).
#[derive(Debug, PartialEq)]
struct Outcome {
    checkpoint: Vec<(String, Vec<u32>)>,
    best: Vec<(String, Vec<u32>)>,
    position: Vec<(String, String)>,
    metrics: Vec<serde_json::Value>,
    summary: serde_json::Value,
    tensorboard: Vec<(String, Vec<(i64, u32)>)>,
}

fn tensors(path: &Path) -> Vec<(String, Vec<u32>)> {
    let f = TensorFile::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut keys: Vec<String> = f.keys().map(str::to_string).collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let bits = f
                .f32s(&k)
                .expect("f32")
                .1
                .iter()
                .map(|v| v.to_bits())
                .collect();
            (k, bits)
        })
        .collect()
}

fn outcome(run: &Path) -> Outcome {
    let ckpt = run.join("checkpoint.safetensors");
    let meta = TensorFile::read(&ckpt)
        .expect("checkpoint")
        .metadata()
        .clone();
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let o = v.as_object_mut().expect("object");
            o.remove("wall_s");
            o.remove("img_per_s");
            v
        })
        .collect();
    let summary = std::fs::read_to_string(run.join("summary.json")).expect("summary");
    let events = deitc::train::tensorboard::reader::load(run).unwrap_or_else(|e| panic!("{e}"));
    let tensorboard = events
        .scalars
        .into_iter()
        .filter(|(tag, _)| !tag.starts_with("perf/"))
        .map(|(tag, v)| (tag, v.iter().map(|p| (p.0, p.1.to_bits())).collect()))
        .collect();
    Outcome {
        checkpoint: tensors(&ckpt),
        best: tensors(&run.join("best.safetensors")),
        // The recipe hash covers `train.output`, which differs between trials.
        position: meta
            .into_iter()
            .filter(|(k, _)| k != "recipe_hash")
            .collect(),
        metrics,
        summary: serde_json::from_str(&summary).expect("summary json"),
        tensorboard,
    }
}

/// The uninterrupted run, once for the whole file, and how long it took.
fn reference() -> &'static (Outcome, Duration) {
    static REF: OnceLock<(Outcome, Duration)> = OnceLock::new();
    REF.get_or_init(|| {
        let dir = temp_dir("fault-ref");
        let recipe = tiny(&dir);
        let t0 = Instant::now();
        let out = command(&recipe, false, None).output().expect("run deitc");
        let took = t0.elapsed();
        assert!(out.status.success(), "{}", text(&out));
        let o = outcome(&run_dir_of(&dir));
        assert_eq!(o.metrics.len(), 4);
        (o, took)
    })
}

/// `got` is `want`, or the test fails naming the first part that differs.
fn assert_same(got: &Outcome, want: &Outcome, what: &str) {
    let first = |a: &[(String, Vec<u32>)], b: &[(String, Vec<u32>)]| {
        a.iter()
            .zip(b)
            .find(|(x, y)| x != y)
            .map(|(x, _)| x.0.clone())
    };
    assert!(
        got.checkpoint == want.checkpoint,
        "{what}: checkpoint differs at {:?}",
        first(&got.checkpoint, &want.checkpoint)
    );
    assert!(
        got.best == want.best,
        "{what}: best differs at {:?}",
        first(&got.best, &want.best)
    );
    assert_eq!(got.position, want.position, "{what}");
    assert_eq!(got.metrics, want.metrics, "{what}");
    assert_eq!(got.summary, want.summary, "{what}");
    assert_eq!(
        got.tensorboard, want.tensorboard,
        "{what}: TensorBoard's scalars"
    );
}

/// No `.<name>.tmp` left in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

/// xorshift64*: the test's own draws, from a printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("DEITC_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        })
}

/// One crash of a trial.
#[derive(Debug, Clone)]
enum Crash {
    /// `DEITC_FAULT=<spec>`: abort after a step or in a checkpoint write, or a full disk.
    Fault(String),
    /// SIGKILL after this long.
    Kill(Duration),
}

#[cfg(unix)]
fn signal(o: &Output) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&o.status)
}

#[cfg(not(unix))]
fn signal(_: &Output) -> Option<i32> {
    None
}

#[test]
fn runs_crashed_at_random_points_resume_to_the_uninterrupted_result() {
    let (want, took) = reference();
    let seed = seed();
    let trials: u64 = std::env::var("DEITC_FAULT_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    eprintln!("fault injection: seed {seed} (DEITC_FAULT_SEED={seed} replays it), {trials} trials");
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let (mut crashes, mut runs) = (0, 0);
    for trial in 0..trials {
        let dir = temp_dir("fault");
        let recipe = tiny(&dir);
        let run = run_dir_of(&dir);
        // Every other trial checkpoints by time: wherever the second falls, a resumed run
        // ends the same.
        let sets: &[&str] = match trial % 2 {
            0 => &[],
            _ => &["train.checkpoint_every=1 s"],
        };
        let mut log = vec![format!(
            "checkpoint every {}",
            sets.first().map_or("5 steps", |_| "1 s")
        )];
        loop {
            runs += 1;
            assert!(log.len() < 12, "trial {trial} does not finish: {log:?}");
            // A crash is drawn for each of the first four runs; the fifth goes to the end.
            let crash = match (log.len(), rng.below(4)) {
                (5.., _) => None,
                (_, 0) => Some(Crash::Fault(format!("step:{}", 1 + rng.below(STEPS)))),
                (_, 1) => Some(Crash::Fault(format!(
                    "checkpoint_write:{}",
                    1 + rng.below(4)
                ))),
                (_, 2) => Some(Crash::Fault(format!("disk_full:{}", 1 + rng.below(3)))),
                _ => Some(Crash::Kill(Duration::from_millis(
                    rng.below(took.as_millis() as u64),
                ))),
            };
            // Resume once the run directory exists (a kill can come before it does).
            let resume = run.exists();
            let fault = match &crash {
                Some(Crash::Fault(f)) => Some(f.as_str()),
                _ => None,
            };
            let mut child = command_with(&recipe, sets, resume, fault)
                .spawn()
                .expect("spawn deitc");
            let pid = child.id();
            if let Some(Crash::Kill(after)) = &crash {
                std::thread::sleep(*after);
                let _ = child.kill();
            }
            let out = child.wait_with_output().expect("wait for deitc");
            let how = match (out.status.code(), signal(&out)) {
                (Some(c), _) => format!("exit {c}"),
                (_, Some(s)) => format!("signal {s}"),
                _ => "?".into(),
            };
            log.push(match &crash {
                None => format!("to the end → {how}"),
                Some(Crash::Fault(f)) => format!("{f} → {how}"),
                Some(Crash::Kill(t)) => format!("SIGKILL after {} ms → {how}", t.as_millis()),
            });
            if out.status.success() {
                assert!(
                    run.join("summary.json").exists(),
                    "trial {trial}: exit 0 without finishing: {log:?}\n{}",
                    text(&out)
                );
                break;
            }
            crashes += 1;
            match &crash {
                Some(Crash::Fault(f)) if f.starts_with("disk_full") => {
                    // A clean failure: the write's own code, the file and the bytes, and no
                    // temporary file left behind.
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
                    assert!(
                        stderr.contains("deit::run::write")
                            && stderr.contains(".safetensors")
                            && stderr.contains("disk is full")
                            && stderr.contains("bytes"),
                        "{stderr}"
                    );
                    assert_eq!(temporaries(&run), Vec::<String>::new(), "{log:?}");
                }
                Some(Crash::Fault(_)) => {
                    assert_eq!(
                        signal(&out),
                        Some(6),
                        "trial {trial}: {log:?}\n{}",
                        text(&out)
                    )
                }
                _ => assert_eq!(
                    signal(&out),
                    Some(9),
                    "trial {trial}: {log:?}\n{}",
                    text(&out)
                ),
            }
            // Whatever is on disk is a whole checkpoint, and the dead writer's lock is free
            // although its file still names it.
            let ckpt = run.join("checkpoint.safetensors");
            if ckpt.exists() {
                tensors(&ckpt);
            }
            assert_eq!(run_dir::holder(&run), None, "{log:?}");
            if let Some(Crash::Fault(_)) = crash {
                let lock = std::fs::read_to_string(run.join(".lock")).expect("lock file");
                assert_eq!(lock.trim(), pid.to_string());
            }
        }
        assert_eq!(temporaries(&run), Vec::<String>::new(), "{log:?}");
        let got = outcome(&run);
        assert_same(&got, want, &format!("trial {trial} (seed {seed}): {log:?}"));
        eprintln!("trial {trial}: {}", log.join(" · "));
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!(
        "fault injection: {crashes} crashes in {runs} runs over {trials} trials, {:.1} s (an uninterrupted run: {:.1} s)",
        t0.elapsed().as_secs_f64(),
        took.as_secs_f64()
    );
}

/// A child process killed (SIGKILL) and reaped when dropped, so that a failing assertion
/// leaves no process holding a run directory forever.
struct Killed(std::process::Child);

impl Killed {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over() {
    let (want, _) = reference();
    let dir = temp_dir("fault-lock");
    let recipe = tiny(&dir);
    let run = run_dir_of(&dir);
    // The first writer stops after step 8 and holds the run directory until killed.
    let mut first = Killed(
        command(&recipe, false, Some("hold:8"))
            .spawn()
            .expect("spawn deitc"),
    );
    let pid = first.0.id();
    let t0 = Instant::now();
    // Epoch 1's line is whole: the writer has nothing more to write before it holds.
    let epoch_done =
        || std::fs::read_to_string(run.join("metrics.jsonl")).is_ok_and(|t| t.ends_with('\n'));
    while !epoch_done() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(run_dir::holder(&run), Some(Some(pid)));
    // A second process resuming it is refused, naming the holder, and writes nothing.
    let before = std::fs::read(run.join("metrics.jsonl")).expect("metrics");
    let second = command(&recipe, true, None).output().expect("run deitc");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(
        // (The renderer may wrap between `PID` and the number.)
        stderr.contains("deit::run::locked") && stderr.contains(&format!("{pid})")),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(run.join("metrics.jsonl")).expect("metrics"),
        before
    );
    // Killed, its lock goes with it (the file still names it), and the run resumes.
    first.kill();
    assert_eq!(
        std::fs::read_to_string(run.join(".lock"))
            .expect("lock file")
            .trim(),
        pid.to_string()
    );
    let out = command(&recipe, true, None).output().expect("run deitc");
    assert!(out.status.success(), "{}", text(&out));
    assert_same(&outcome(&run), want, "the resumed run");
    let _ = std::fs::remove_dir_all(&dir);
}
