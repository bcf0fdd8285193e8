//! The training loop end to end on tiny synthetic data: loss falls and accuracy rises within
//! seconds; a run killed at any step and resumed ends with the same weights, bit for bit,
//! as an uninterrupted one; files land where the docs say.

mod common;

use common::temp_dir;
use deitc::check::check;
use deitc::diag::Describe;
use deitc::ir::Recipe;
use deitc::model::TensorFile;
use deitc::train::catalogue::Registry;
use deitc::train::run::{run, Progress, RunOptions};
use std::path::{Path, PathBuf};

/// A recipe for the compiled `test_tiny` shape (16 px, patch 4, embed 64, depth 2, 10 classes).
fn tiny_recipe(dir: &Path, overrides: &[&str]) -> Recipe {
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n    drop_path = 0.1\n}}\n\
         data {{\n    train = synthetic(samples = 200, classes = 10)\n    val = synthetic(samples = 100, classes = 10, seed = 1)\n}}\n\
         augment {{\n    crop {{\n        kind = random\n        padding = 2\n    }}\n    repeated = 1\n}}\n\
         optimizer.lr = 2e-3\n\
         schedule {{\n    length = 4 epochs\n    warmup = 1 epoch\n    unit = steps\n}}\n\
         train {{\n    batch = 32\n    ema = 0.9\n    output = \"{}\"\n}}\n",
        dir.join("runs").display()
    );
    let path = dir.join("tiny.deit");
    std::fs::write(&path, text).expect("write recipe");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let c = check(
        &path,
        &overrides,
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert!(c.ok(), "{:?}", c.diags.items);
    c.recipe.expect("recipe")
}

fn train(r: &Recipe, resume: bool, crash: Option<u64>) -> deitc::train::run::RunReport {
    let opts = RunOptions {
        resume,
        progress: Progress::Quiet,
        crash_after_steps: crash,
    };
    let resolved = r.to_ron().expect("ron");
    run(&Registry::compiled(), r, &resolved, &opts, &mut |_| {}).expect("run")
}

fn model_tensors(path: &PathBuf) -> Vec<(String, Vec<f32>)> {
    let f = TensorFile::read(path).expect("checkpoint");
    let mut keys: Vec<String> = f.keys().map(str::to_string).collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v = f.f32s(&k).expect("f32").1;
            (k, v)
        })
        .collect()
}

#[test]
fn loss_falls_and_accuracy_rises_on_a_tiny_problem() {
    let dir = temp_dir("train");
    let r = tiny_recipe(
        &dir,
        &[
            "schedule.length=8epochs",
            "train.batch=16",
            "augment.crop.kind=none",
            "model.drop_path=0",
            "optimizer.lr=3e-3",
        ],
    );
    let report = train(&r, false, None);
    assert_eq!((report.epochs, report.steps), (8, 96));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(report.dir.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 8);
    let first = lines[0]["train_loss"].as_f64().expect("loss");
    let last = lines[7]["train_loss"].as_f64().expect("loss");
    assert!(last < first * 0.7, "loss {first} → {last}");
    let top1 = report.final_top1.expect("evaluated");
    assert!(top1 > 0.6, "val top-1 {top1} (chance 0.1)");
    for f in [
        "resolved.ron",
        "metrics.csv",
        "checkpoint.safetensors",
        "best.safetensors",
    ] {
        assert!(report.dir.join(f).is_file(), "{f}");
    }
    let resolved = std::fs::read_to_string(report.dir.join("resolved.ron")).expect("ron");
    assert_eq!(
        Recipe::from_ron(resolved.split_once('\n').expect("hash line").1).expect("parses"),
        r
    );
}

#[test]
fn a_run_killed_mid_epoch_and_resumed_ends_bit_identical() {
    let dir = temp_dir("resume");
    let r = tiny_recipe(&dir, &["train.checkpoint_every=1epoch"]);
    let full = train(&r, false, None);
    // A second run of the same recipe, killed after 7 steps (in epoch 2, after the
    // epoch-1 checkpoint), then resumed twice: once more killed, then to the end.
    let killed = train(&r, false, Some(7));
    assert!(killed.interrupted);
    let again = train(&r, true, Some(13));
    assert!(again.interrupted && again.dir == killed.dir);
    let resumed = train(&r, true, None);
    assert_eq!(resumed.dir, killed.dir);
    assert_eq!(resumed.steps, full.steps);
    let a = model_tensors(&full.dir.join("checkpoint.safetensors"));
    let b = model_tensors(&resumed.dir.join("checkpoint.safetensors"));
    assert_eq!(a.len(), b.len());
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        assert!(
            va.iter().zip(vb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{ka} differs"
        );
    }
    assert_eq!(resumed.final_top1, full.final_top1);
}

#[test]
fn resume_refuses_a_changed_recipe_and_a_missing_run() {
    let dir = temp_dir("resume-mismatch");
    let r = tiny_recipe(&dir, &[]);
    let opts = RunOptions {
        resume: true,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let err = run(
        &Registry::compiled(),
        &r,
        &r.to_ron().expect("ron"),
        &opts,
        &mut |_| {},
    )
    .expect_err("nothing to resume");
    assert_eq!(err.code(), "deit::run::nothing_to_resume");
    train(&r, false, Some(3));
    let mut changed = r.clone();
    changed.optimizer.lr = 1e-3;
    let err = run(
        &Registry::compiled(),
        &changed,
        &changed.to_ron().expect("ron"),
        &opts,
        &mut |_| {},
    )
    .expect_err("mismatch");
    assert_eq!(err.code(), "deit::run::resume_mismatch");
}

#[test]
fn a_diverging_run_stops_with_a_diagnostic_naming_the_step() {
    let dir = temp_dir("nan");
    let r = tiny_recipe(
        &dir,
        // Normalised pixels overflow to -∞: the first loss is NaN on any machine.
        &["data.mean=[1e38, 1e38, 1e38]"],
    );
    let opts = RunOptions {
        resume: false,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let err = run(
        &Registry::compiled(),
        &r,
        &r.to_ron().expect("ron"),
        &opts,
        &mut |_| {},
    )
    .expect_err("diverges");
    assert_eq!(err.code(), "deit::run::non_finite", "{err:?}");
}

/// Every tensor of two checkpoints is equal, bit for bit.
fn assert_same_tensors(a: &PathBuf, b: &PathBuf) {
    let (a, b) = (model_tensors(a), model_tensors(b));
    assert_eq!(a.len(), b.len());
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        assert!(
            va.iter().zip(vb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{ka} differs"
        );
    }
}

/// `metrics.jsonl` without the wall-clock columns.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
            let o = v.as_object_mut().expect("object");
            o.remove("wall_s");
            o.remove("img_per_s");
            v
        })
        .collect()
}

fn metadata(path: &PathBuf, key: &str) -> String {
    TensorFile::read(path)
        .expect("checkpoint")
        .metadata()
        .get(key)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn step_checkpoints_are_written_mid_epoch_and_resume_bit_exactly() {
    let dir = temp_dir("step-ckpt");
    // 6 steps an epoch: a checkpoint every 4 steps lands mid-epoch (steps 4, 8, 16, 20) and
    // at an epoch's end (12, 24).
    let r = tiny_recipe(&dir, &["train.checkpoint_every=4 steps"]);
    let full = train(&r, false, None);
    assert_eq!(full.steps, 24);
    let ckpt = |rep: &deitc::train::run::RunReport| rep.dir.join("checkpoint.safetensors");
    // Killed after step 10: the checkpoint of step 8 (epoch 2, step 2) is on disk.
    let killed = train(&r, false, Some(10));
    assert_eq!(metadata(&ckpt(&killed), "steps"), "8");
    assert_eq!(metadata(&ckpt(&killed), "epoch"), "1");
    assert_eq!(metadata(&ckpt(&killed), "step_in_epoch"), "2");
    // Resumed from it, killed again after step 17 (checkpoint of step 16), then to the end.
    let again = train(&r, true, Some(17));
    assert_eq!(again.dir, killed.dir);
    assert_eq!(metadata(&ckpt(&again), "steps"), "16");
    let resumed = train(&r, true, None);
    assert_eq!(
        (resumed.dir.clone(), resumed.steps),
        (killed.dir.clone(), 24)
    );
    assert_same_tensors(&ckpt(&full), &ckpt(&resumed));
    assert_same_tensors(
        &full.dir.join("best.safetensors"),
        &resumed.dir.join("best.safetensors"),
    );
    // Each epoch once, with the uninterrupted run's loss (the steps before a mid-epoch
    // checkpoint are carried in it) and accuracy.
    assert_eq!(metrics(&full.dir), metrics(&resumed.dir));
    assert_eq!(resumed.final_top1, full.final_top1);
}

#[test]
fn a_run_killed_before_its_first_checkpoint_resumes_from_the_start() {
    let dir = temp_dir("no-ckpt");
    let r = tiny_recipe(
        &dir,
        &["train.checkpoint_every=2 epochs", "schedule.length=3epochs"],
    );
    let full = train(&r, false, None);
    // Killed in epoch 2: epoch 1's metrics are written, no checkpoint is.
    let killed = train(&r, false, Some(9));
    assert!(!killed.dir.join("checkpoint.safetensors").exists());
    assert_eq!(metrics(&killed.dir).len(), 1);
    let resumed = train(&r, true, None);
    assert_eq!(resumed.dir, killed.dir);
    assert_same_tensors(
        &full.dir.join("checkpoint.safetensors"),
        &resumed.dir.join("checkpoint.safetensors"),
    );
    assert_eq!(metrics(&full.dir), metrics(&resumed.dir));
}

#[test]
fn resume_is_refused_while_another_writer_holds_the_run_directory() {
    use deitc::train::run_dir;
    let dir = temp_dir("locked");
    let r = tiny_recipe(&dir, &["schedule.length=2epochs"]);
    let killed = train(&r, false, Some(3));
    // A lock held on another open file (as another process's would be).
    let held = run_dir::lock(&killed.dir).expect("lock");
    let opts = RunOptions {
        resume: true,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let resolved = r.to_ron().expect("ron");
    let err = run(&Registry::compiled(), &r, &resolved, &opts, &mut |_| {}).expect_err("locked");
    assert_eq!(err.code(), "deit::run::locked");
    let message = err.describe().message;
    assert!(
        message.contains(&format!("(PID {})", std::process::id())),
        "{message}"
    );
    // Nothing was touched; released, the run goes on.
    assert!(!killed.dir.join("metrics.jsonl").exists());
    drop(held);
    let resumed = train(&r, true, None);
    assert_eq!((resumed.dir, resumed.epochs), (killed.dir, 2));
}

#[test]
fn a_diverging_run_keeps_its_last_good_checkpoint_and_names_it() {
    use deitc::train::RunError;
    let dir = temp_dir("diverge");
    // SGD at a rate far too high: finite for a few steps, then the loss (or the weights)
    // blow up.
    let r = tiny_recipe(
        &dir,
        &[
            "optimizer.kind=sgd",
            "optimizer.lr=10",
            "schedule.warmup=0epochs",
            "train.checkpoint_every=1 step",
        ],
    );
    let opts = RunOptions {
        resume: false,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let err = run(
        &Registry::compiled(),
        &r,
        &r.to_ron().expect("ron"),
        &opts,
        &mut |_| {},
    )
    .expect_err("diverges");
    assert_eq!(err.code(), "deit::run::non_finite", "{err:?}");
    let RunError::NonFinite {
        saved: Some(saved), ..
    } = &err
    else {
        panic!("no checkpoint named: {err:?}");
    };
    let help = err.describe().help.unwrap_or_default();
    assert!(help.contains(&saved.path), "{help}");
    // The checkpoint it names is on disk, holds the steps it says, and every value in it
    // is finite.
    let path = PathBuf::from(&saved.path);
    assert_eq!(metadata(&path, "steps"), saved.steps.to_string());
    for (name, values) in model_tensors(&path) {
        assert!(values.iter().all(|v| v.is_finite()), "{name}");
    }
}

#[test]
fn bench_reports_throughput_for_a_compiled_shape() {
    let (code, stdout, stderr) = common::run(&[
        "bench",
        "recipes/digits_vit.deit",
        "--steps",
        "1",
        "--batch",
        "4",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("train step") && stdout.contains("img/s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("compute     train") && stdout.contains("FLOP/s"),
        "{stdout}"
    );
}

#[test]
fn a_deitc_checkpoint_teaches_a_distilled_student_hard_and_soft() {
    let dir = temp_dir("distill");
    // The teacher: a plain `test_tiny`, trained briefly.
    let teacher = tiny_recipe(
        &dir,
        &[
            "schedule.length=3epochs",
            "augment.crop.kind=none",
            "model.drop_path=0",
            "optimizer.lr=3e-3",
        ],
    );
    let taught = train(&teacher, false, None);
    let ckpt = taught.dir.join("checkpoint.safetensors");
    for mode in ["hard", "soft"] {
        let student_dir = dir.join(mode);
        std::fs::create_dir_all(&student_dir).expect("dir");
        let student = tiny_recipe(
            &student_dir,
            &[
                "model.distilled=true",
                &format!("distill.mode={mode}"),
                "distill.teacher.arch=deit",
                &format!(
                    "distill.teacher.recipe=\"{}\"",
                    dir.join("tiny.deit").display()
                ),
                &format!("distill.teacher.checkpoint=\"{}\"", ckpt.display()),
                "schedule.length=2epochs",
            ],
        );
        let report = train(&student, false, None);
        assert_eq!(report.epochs, 2, "{mode}");
        let metrics = std::fs::read_to_string(report.dir.join("metrics.jsonl")).expect("metrics");
        assert_eq!(metrics.lines().count(), 2, "{mode}");
    }
}

#[test]
fn the_distillation_loss_is_the_alpha_weighted_sum_of_base_and_kd() {
    use deitc::train::catalogue;
    use deitc::train::graph::HostBatch;
    let dir = temp_dir("alpha");
    for (mode, alpha) in [("hard", 0.5), ("soft", 0.1)] {
        let r = tiny_recipe(
            &dir,
            &[
                "model.distilled=true",
                &format!("distill.mode={mode}"),
                &format!("distill.alpha={alpha}"),
                "distill.tau=3",
                "distill.teacher.arch=deit",
                "distill.teacher.checkpoint=\"unused\"",
            ],
        );
        let mut g = catalogue::Registry::compiled()
            .build(&r, 1, r.train.device)
            .expect("test_tiny_distilled is compiled in");
        let b = 4;
        let images: Vec<f32> = (0..b * 3 * 16 * 16)
            .map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0)
            .collect();
        let targets: Vec<f32> = (0..b * 10)
            .map(|i| {
                if i % 10 == (i / 10) * 3 % 10 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let teacher: Vec<f32> = (0..b * 10).map(|i| ((i * 31) % 17) as f32 / 4.0).collect();
        let s = g
            .train_step(
                HostBatch {
                    images: &images,
                    targets: &targets,
                    size: b,
                },
                Some(&teacher),
                1e-3,
            )
            .expect("step");
        assert!(s.kd > 0.0 && s.base > 0.0, "{mode}: {s:?}");
        let want = (1.0 - alpha) * s.base + alpha * s.kd;
        assert!(
            (s.loss - want).abs() < 1e-5 * want.max(1.0),
            "{mode}: {} vs {want}",
            s.loss
        );
    }
}

/// Without a distillation token the class token takes both losses; with hard distillation
/// (cross-entropy is linear in its target) one step equals a plain step on the target
/// `(1−α)·y + α·onehot(argmax teacher)`. SGD at lr 1 makes the weights' change the
/// gradient itself (Adam's first step would amplify rounding in near-zero gradients).
#[test]
fn hard_distillation_without_a_token_trains_the_class_token_on_the_mixed_target() {
    use deitc::train::catalogue;
    use deitc::train::graph::HostBatch;
    let dir = temp_dir("notoken");
    let alpha = 0.3;
    let kd = tiny_recipe(
        &dir,
        &[
            "distill.mode=hard",
            &format!("distill.alpha={alpha}"),
            "distill.teacher.arch=deit",
            "distill.teacher.checkpoint=\"unused\"",
            "optimizer.kind=sgd",
        ],
    );
    let plain = tiny_recipe(&dir, &["optimizer.kind=sgd"]);
    assert!(!kd.model.distilled);
    let mut g_kd = catalogue::Registry::compiled()
        .build(&kd, 1, kd.train.device)
        .expect("test_tiny is compiled in");
    let mut g_plain = catalogue::Registry::compiled()
        .build(&plain, 1, plain.train.device)
        .expect("compiled");
    let b = 4;
    let images: Vec<f32> = (0..b * 3 * 16 * 16)
        .map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0)
        .collect();
    let y: Vec<f32> = (0..b * 10)
        .map(|i| f32::from(u8::from(i % 10 == (i / 10) * 3 % 10)))
        .collect();
    let teacher: Vec<f32> = (0..b * 10).map(|i| ((i * 31) % 17) as f32 / 4.0).collect();
    let mut mixed = y.clone();
    for row in 0..b {
        let t = &teacher[row * 10..row * 10 + 10];
        let arg = (0..10).fold(0, |m, k| if t[k] > t[m] { k } else { m });
        for k in 0..10 {
            let hot = f32::from(u8::from(k == arg));
            mixed[row * 10 + k] = (1.0 - alpha as f32) * y[row * 10 + k] + alpha as f32 * hot;
        }
    }
    let batch = |targets| HostBatch {
        images: &images,
        targets,
        size: b,
    };
    let s_kd = g_kd
        .train_step(batch(&y), Some(&teacher), 1.0)
        .expect("step");
    let s_plain = g_plain.train_step(batch(&mixed), None, 1.0).expect("step");
    assert!(s_kd.kd > 0.0, "{s_kd:?}");
    assert!(
        (s_kd.loss - s_plain.loss).abs() < 1e-5,
        "{s_kd:?} vs {s_plain:?}"
    );
    let (a, p) = (
        g_kd.state().expect("state"),
        g_plain.state().expect("state"),
    );
    assert_eq!(a.len(), p.len());
    for (x, z) in a.iter().zip(&p) {
        assert_eq!(x.name, z.name);
        let diff = x
            .data
            .iter()
            .zip(&z.data)
            .map(|(u, v)| (u - v).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{}: {diff}", x.name);
    }
}

#[test]
fn the_ema_moves_toward_the_weights_by_one_minus_decay_each_step() {
    use deitc::train::catalogue;
    use deitc::train::graph::HostBatch;
    let dir = temp_dir("ema");
    let r = tiny_recipe(&dir, &["train.ema=0.9"]);
    let mut g = catalogue::Registry::compiled()
        .build(&r, 2, r.train.device)
        .expect("compiled");
    let named = |g: &dyn deitc::train::graph::Graph, prefix: &str| -> Vec<(String, Vec<f32>)> {
        let mut v: Vec<(String, Vec<f32>)> = g
            .state()
            .expect("state")
            .into_iter()
            .filter(|t| t.name.starts_with(prefix))
            .map(|t| (t.name[prefix.len()..].to_string(), t.data))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let before = named(g.as_ref(), "model.");
    assert_eq!(
        before,
        named(g.as_ref(), "ema."),
        "the EMA starts as a copy"
    );
    let b = 4;
    let images: Vec<f32> = (0..b * 3 * 16 * 16)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let targets: Vec<f32> = (0..b * 10)
        .map(|i| f32::from(u8::from(i % 10 == i / 10)))
        .collect();
    g.train_step(
        HostBatch {
            images: &images,
            targets: &targets,
            size: b,
        },
        None,
        1e-3,
    )
    .expect("step");
    let (after, ema) = (named(g.as_ref(), "model."), named(g.as_ref(), "ema."));
    let mut moved = false;
    for (((name, w0), (_, w1)), (_, e)) in before.iter().zip(&after).zip(&ema) {
        for i in 0..w0.len() {
            let want = 0.9 * w0[i] + 0.1 * w1[i];
            assert!(
                (e[i] - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{name}[{i}]: {} vs {want}",
                e[i]
            );
            moved |= w0[i] != w1[i];
        }
    }
    assert!(moved);
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_cleanly() {
    let dir = temp_dir("sigint");
    tiny_recipe(&dir, &[]); // writes and checks tiny.deit
    let recipe = dir.join("tiny.deit");
    let bin = env!("CARGO_BIN_EXE_deitc");
    let child = std::process::Command::new(bin)
        .args([
            "run",
            &recipe.to_string_lossy(),
            "--quiet",
            "--set",
            "schedule.length=400epochs",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn deitc");
    // Wait until training is under way (the first checkpoint exists), then interrupt.
    let ckpt = dir.join("runs/tiny/001/checkpoint.safetensors");
    let t0 = std::time::Instant::now();
    while !ckpt.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ckpt.exists(), "no checkpoint after 60 s");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopped after"), "{stdout}");
    let file = TensorFile::read(&ckpt).expect("a readable checkpoint");
    assert_eq!(
        file.metadata().get("format").map(String::as_str),
        Some("deitc-checkpoint-1")
    );
}

/// A recipe for the compiled `test_convnet` shape (16 px, 3 channels, width 8, 10 classes).
fn convnet_recipe(dir: &Path, overrides: &[&str]) -> Recipe {
    let text = format!(
        "model {{\n    family = convnet\n    image = 16\n    width = 8\n}}\n\
         data {{\n    train = synthetic(samples = 200, classes = 10)\n    val = synthetic(samples = 100, classes = 10, seed = 1)\n}}\n\
         augment {{\n    crop.kind = none\n    repeated = 1\n}}\n\
         optimizer.lr = 1e-2\n\
         schedule {{\n    length = 12 epochs\n    warmup = 1 epoch\n    unit = steps\n}}\n\
         train {{\n    batch = 16\n    ema = none\n    output = \"{}\"\n}}\n",
        dir.join("runs").display()
    );
    let path = dir.join("convnet.deit");
    std::fs::write(&path, text).expect("write recipe");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let c = check(
        &path,
        &overrides,
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert!(c.ok() && c.diags.items.is_empty(), "{:?}", c.diags.items);
    c.recipe.expect("recipe")
}

#[test]
fn a_convnet_trains_and_teaches_a_distilled_deit() {
    let dir = temp_dir("convnet");
    let teacher = convnet_recipe(&dir, &[]);
    let report = train(&teacher, false, None);
    assert_eq!((report.epochs, report.steps), (12, 144));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(report.dir.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let first = lines[0]["train_loss"].as_f64().expect("loss");
    let last = lines[11]["train_loss"].as_f64().expect("loss");
    assert!(last < first * 0.7, "loss {first} → {last}");
    let top1 = report.final_top1.expect("evaluated");
    assert!(top1 > 0.5, "val top-1 {top1} (chance 0.1)");
    let ckpt = report.dir.join("checkpoint.safetensors");
    let names: Vec<String> = TensorFile::read(&ckpt)
        .expect("checkpoint")
        .keys()
        .filter(|k| k.starts_with("model."))
        .map(str::to_string)
        .collect();
    assert!(
        names.contains(&"model.stages.0.0.weight".to_string()),
        "{names:?}"
    );

    // A distilled DeiT learns from it (hard distillation, the teacher on the student's batch).
    let student_dir = dir.join("student");
    std::fs::create_dir_all(&student_dir).expect("dir");
    let teach = |arch: &str| {
        tiny_recipe(
            &student_dir,
            &[
                "model.distilled=true",
                "distill.mode=hard",
                &format!("distill.teacher.arch={arch}"),
                &format!(
                    "distill.teacher.recipe=\"{}\"",
                    dir.join("convnet.deit").display()
                ),
                &format!("distill.teacher.checkpoint=\"{}\"", ckpt.display()),
                "schedule.length=2epochs",
            ],
        )
    };
    let report = train(&teach("convnet"), false, None);
    assert_eq!(report.epochs, 2);
    let metrics = std::fs::read_to_string(report.dir.join("metrics.jsonl")).expect("metrics");
    let losses = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .map(|v| v["train_loss"].as_f64().unwrap_or(f64::NAN))
        .collect::<Vec<_>>();
    assert!(
        losses.iter().all(|v| v.is_finite() && *v > 0.0),
        "{metrics}"
    );

    // A teacher whose `arch` disagrees with its recipe is refused before training.
    let r = teach("deit");
    let opts = RunOptions {
        resume: false,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let err = run(
        &Registry::compiled(),
        &r,
        &r.to_ron().expect("ron"),
        &opts,
        &mut |_| {},
    )
    .expect_err("mismatch");
    let text = err.describe().message;
    assert!(text.contains("describes a convnet"), "{text}");
}

#[test]
fn wrong_sized_buffers_and_unknown_optimizer_keys_are_errors_not_panics_or_nans() {
    use deitc::train::catalogue;
    use deitc::train::graph::{GraphError, HostBatch};
    use deitc::train::tensor_io::{to_bytes, Named};
    let dir = temp_dir("graph_errors");
    let r = tiny_recipe(&dir, &[]);
    let mut g = catalogue::Registry::compiled()
        .build(&r, 3, r.train.device)
        .expect("compiled");
    let image = 3 * 16 * 16;
    // Eval: two images' worth of values for three images.
    let err = g.eval_logits(&vec![0.0; 2 * image], 3, false);
    assert_eq!(
        err,
        Err(GraphError::Batch {
            what: "images",
            want: 3 * image,
            got: 2 * image
        })
    );
    let logits = g
        .eval_logits(&vec![0.0; 3 * image], 3, false)
        .expect("logits");
    assert!(logits.len() == 30 && logits.iter().all(|v| v.is_finite()));
    // Train: targets for one sample too few.
    let images = vec![0.0; 2 * image];
    let targets = vec![0.1; 10];
    let batch = HostBatch {
        images: &images,
        targets: &targets,
        size: 2,
    };
    let err = g.train_step(batch, None, 1e-3).map(|_| ());
    assert_eq!(
        err,
        Err(GraphError::Batch {
            what: "targets",
            want: 20,
            got: 10
        })
    );
    assert_eq!(g.steps(), 0, "a refused step changes nothing");
    // Restore: a checkpoint whose optimizer tensor is neither `opt.m.*` nor `opt.v.*`.
    let mut state = g.state().expect("state");
    state.push(Named {
        name: "opt.w.head.bias".into(),
        shape: vec![10],
        data: vec![0.0; 10],
    });
    let file =
        TensorFile::parse(to_bytes(&state, Default::default()).expect("bytes")).expect("parse");
    match g.restore(&file, 0) {
        Err(GraphError::Load(m)) => assert!(m.contains("opt.w.head.bias"), "{m}"),
        other => panic!("expected a load error, got {other:?}"),
    }
}

#[test]
fn a_recipe_with_dropout_trains_and_resumes_bit_identical() {
    let dir = temp_dir("dropout");
    let r = tiny_recipe(
        &dir,
        &[
            "model.dropout=0.1",
            "augment.crop.kind=none",
            "train.checkpoint_every=1epoch",
        ],
    );
    let full = train(&r, false, None);
    let lines = metrics(&full.dir);
    let loss = |i: usize| lines[i]["train_loss"].as_f64().expect("loss");
    assert!(loss(3) < loss(0), "loss {} → {}", loss(0), loss(3));
    // The masks are drawn: without dropout the same run trains otherwise.
    let plain = train(&tiny_recipe(&dir, &["augment.crop.kind=none"]), false, None);
    assert_ne!(metrics(&plain.dir), lines);
    // Every dropout mask comes from the step's seed (not the device's generator), so a run
    // killed mid-epoch and resumed draws the same masks and ends bit-identical.
    let killed = train(&r, false, Some(7));
    assert!(killed.interrupted);
    let resumed = train(&r, true, None);
    assert_eq!(
        (resumed.dir.clone(), resumed.steps),
        (killed.dir, full.steps)
    );
    assert_same_tensors(
        &full.dir.join("checkpoint.safetensors"),
        &resumed.dir.join("checkpoint.safetensors"),
    );
    assert_eq!(metrics(&full.dir), metrics(&resumed.dir));
}
