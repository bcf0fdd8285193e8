//! TensorBoard event files of tiny training runs: read back strictly (both CRCs of every
//! record, every record an `Event`), their values are `metrics.jsonl`'s; a resumed run shows
//! each step once, with the uninterrupted run's values; and, where Python's `tensorboard`
//! package is installed (`DEITC_PYTHON`, else `python3`), TensorBoard's own reader agrees.

mod common;

use common::temp_dir;
use deitc::check::check;
use deitc::ir::Recipe;
use deitc::train::catalogue::Registry;
use deitc::train::run::{run, Progress, RunOptions, RunReport};
use deitc::train::tensorboard::reader::{self, RunEvents};
use deitc::train::tensorboard::train_log::fenced;
use deitc::train::tensorboard::{tag, writer};
use std::path::Path;

/// A recipe for the compiled `test_tiny` shape, 6 steps an epoch.
fn tiny_recipe(dir: &Path, overrides: &[&str]) -> Recipe {
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n    drop_path = 0.1\n}}\n\
         data {{\n    train = synthetic(samples = 200, classes = 10)\n    val = synthetic(samples = 100, classes = 10, seed = 1)\n}}\n\
         augment {{\n    crop {{\n        kind = random\n        padding = 2\n    }}\n    repeated = 1\n}}\n\
         optimizer.lr = 2e-3\n\
         schedule {{\n    length = 3 epochs\n    warmup = 1 epoch\n    unit = steps\n}}\n\
         train {{\n    batch = 32\n    ema = 0.9\n    ema_eval = true\n    output = \"{}\"\n}}\n",
        dir.join("runs").display()
    );
    checked(dir, "tiny.deit", &text, overrides)
}

fn checked(dir: &Path, name: &str, text: &str, overrides: &[&str]) -> Recipe {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write recipe");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let c = check(
        &path,
        &overrides,
        &deitc::cli::build_facts(&Registry::compiled()),
    );
    assert!(c.ok(), "{:?}", c.diags.items);
    c.recipe.expect("recipe")
}

fn train(r: &Recipe, resume: bool, crash: Option<u64>) -> RunReport {
    let opts = RunOptions {
        resume,
        progress: Progress::Quiet,
        crash_after_steps: crash,
    };
    let resolved = r.to_ron().expect("ron");
    run(&Registry::compiled(), r, &resolved, &opts, &mut |_| {}).expect("run")
}

fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// The value of scalar `tag` at `step`, which must be there exactly once.
fn at(run: &RunEvents, tag: &str, step: u64) -> f32 {
    let hits: Vec<f32> = run
        .scalar(tag)
        .iter()
        .filter(|p| p.0 == step as i64)
        .map(|p| p.1)
        .collect();
    assert_eq!(hits.len(), 1, "{tag} at step {step}: {hits:?}");
    hits[0]
}

/// Every epoch scalar equals `metrics.jsonl`'s value (as the f32 TensorBoard stores), at the
/// epoch's step; `img_per_s` too unless `timing` is false.
fn assert_epochs_match(run: &RunEvents, lines: &[serde_json::Value], timing: bool) {
    for m in lines {
        let step = m["step"].as_u64().expect("step");
        let mut pairs = vec![
            (tag::EPOCH_LOSS, "train_loss"),
            (tag::EPOCH, "epoch"),
            (tag::VAL_TOP1, "val_top1"),
            (tag::VAL_TOP5, "val_top5"),
            (tag::VAL_LOSS, "val_loss"),
            (tag::EMA_TOP1, "ema_top1"),
        ];
        if timing {
            pairs.push((tag::IMG_PER_S, "img_per_s"));
        }
        for (t, key) in pairs {
            let want = m[key].as_f64().unwrap_or_else(|| panic!("{key} in {m}"));
            assert_eq!(at(run, t, step), want as f32, "{t} at step {step}");
        }
        // The last step of the epoch ran at the epoch's reported rate.
        let lr = m["lr"].as_f64().expect("lr");
        assert_eq!(at(run, tag::LR, step), lr as f32, "lr at step {step}");
    }
}

#[test]
fn a_tiny_run_logs_its_metrics_recipe_and_samples_in_tensorboard_format() {
    let dir = temp_dir("tb-run");
    let r = tiny_recipe(&dir, &[]);
    let report = train(&r, false, None);
    assert_eq!(report.steps, 18);
    let files = writer::events_files(&report.dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_string();
    let parts: Vec<&str> = name.split('.').collect();
    assert_eq!(&parts[..3], ["events", "out", "tfevents"], "{name}");
    assert!(
        parts[3].len() == 10 && parts[3].bytes().all(|b| b.is_ascii_digit()),
        "{name}"
    );
    assert!(
        name.ends_with(&format!(".{}.deitc", std::process::id())),
        "{name}"
    );

    let run = reader::load(&report.dir).expect("strictly readable");
    assert_eq!(run.starts, [1]);
    // Per step: each global step once, in order, finite.
    for t in [tag::LOSS, tag::LR, tag::GRAD_NORM] {
        let steps: Vec<i64> = run.scalar(t).iter().map(|p| p.0).collect();
        assert_eq!(steps, (1..=18).collect::<Vec<_>>(), "{t}");
        assert!(run.scalar(t).iter().all(|p| p.1.is_finite()), "{t}");
    }
    assert!(run.scalar(tag::GRAD_NORM).iter().all(|p| p.1 > 0.0));
    let lines = metrics(&report.dir);
    assert_eq!(lines.len(), 3);
    assert_epochs_match(&run, &lines, true);
    // The epoch's loss is the mean of its steps' losses (equal batches).
    for (e, m) in lines.iter().enumerate() {
        let steps = &run.scalar(tag::LOSS)[e * 6..(e + 1) * 6];
        let mean = steps.iter().map(|p| f64::from(p.1)).sum::<f64>() / 6.0;
        let want = m["train_loss"].as_f64().expect("loss");
        assert!(
            (mean - want).abs() < 1e-5 * want,
            "epoch {e}: {mean} vs {want}"
        );
    }
    assert!(run.scalar(tag::TEACHER_SHARE).is_empty());

    // The recipe, once, at step 0, for the text plugin: `resolved.ron` in a code block.
    let ron = std::fs::read_to_string(report.dir.join("resolved.ron")).expect("resolved.ron");
    assert_eq!(run.texts[tag::RECIPE], [(0, fenced(&ron))]);
    assert_eq!(run.text_plugins[tag::RECIPE], "text");

    // The first batch's samples, once, at step 0: a PNG of the size it says.
    let images = &run.images[tag::SAMPLES];
    assert_eq!(images.len(), 1);
    let (step, img) = &images[0];
    assert_eq!((*step, img.colorspace), (0, 3));
    let png = image::load_from_memory(&img.encoded).expect("a PNG");
    assert_eq!(
        (png.width() as i32, png.height() as i32),
        (img.width, img.height)
    );
    // 16 of the 32 samples on a 4×4 grid of 96-px tiles.
    assert!(
        img.width > 4 * 96 && img.width < 5 * 96 + 60,
        "{}",
        img.width
    );
}

/// A run crashed after a mid-epoch checkpoint, its events file torn, then resumed.
fn crashed_and_resumed(dir: &Path) -> (Recipe, RunReport) {
    let r = tiny_recipe(dir, &["train.checkpoint_every=4steps"]);
    // Killed at step 10: the checkpoint holds 8 steps (epoch 2, step 2); steps 9 and 10
    // reached the events file (the writer's buffer is flushed as it is dropped).
    let crashed = train(&r, false, Some(10));
    let files = writer::events_files(&crashed.dir);
    assert_eq!(files.len(), 1);
    let before = reader::load(&crashed.dir).expect("readable");
    let steps: Vec<i64> = before.scalar(tag::LOSS).iter().map(|p| p.0).collect();
    assert_eq!(steps, (1..=10).collect::<Vec<_>>());
    // A record cut short by the crash.
    let mut bytes = std::fs::read(&files[0]).expect("events");
    let whole = bytes.len();
    bytes.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    std::fs::write(&files[0], &bytes).expect("tear");
    assert!(reader::load(&crashed.dir).is_err());

    let resumed = train(&r, true, None);
    assert_eq!(resumed.dir, crashed.dir);
    assert_eq!(resumed.steps, 18);
    // The torn record is gone; what was whole stays.
    assert_eq!(
        std::fs::metadata(&files[0]).expect("events").len(),
        whole as u64
    );
    (r, resumed)
}

#[test]
fn a_resumed_run_shows_each_step_once_with_the_uninterrupted_values() {
    let dir = temp_dir("tb-resume");
    let (_, resumed) = crashed_and_resumed(&dir);
    let whole_dir = temp_dir("tb-whole");
    let whole = train(
        &tiny_recipe(&whole_dir, &["train.checkpoint_every=4steps"]),
        false,
        None,
    );

    let run = reader::load(&resumed.dir).expect("strictly readable");
    assert_eq!(run.files.len(), 2);
    // The restart is at the step after the checkpoint's: steps 9 and 10 of the crashed
    // process are discarded, and trained (and logged) again.
    assert_eq!(run.starts, [1, 9]);
    let reference = reader::load(&whole.dir).expect("readable");
    for t in [tag::LOSS, tag::LR, tag::GRAD_NORM] {
        // Bit-exact on the CPU, as the weights are.
        assert_eq!(run.scalar(t), reference.scalar(t), "{t}");
    }
    let lines = metrics(&resumed.dir);
    assert_eq!(lines.len(), 3);
    assert_epochs_match(&run, &lines, true);
    for t in [tag::EPOCH_LOSS, tag::VAL_TOP1, tag::VAL_TOP5, tag::VAL_LOSS] {
        assert_eq!(run.scalar(t), reference.scalar(t), "{t}");
    }
    // Written once per directory: the second file has no recipe and no samples.
    assert_eq!(run.texts[tag::RECIPE].len(), 1);
    assert_eq!(run.images[tag::SAMPLES].len(), 1);
    // The second file's name sorts after the first's, even within the same second.
    let files = writer::events_files(&resumed.dir);
    assert!(files[0] < files[1]);
}

#[test]
fn a_distilled_run_logs_the_teachers_share() {
    let dir = temp_dir("tb-distill");
    let teacher_text = format!(
        "model {{\n    family = convnet\n    image = 16\n    width = 8\n}}\n\
         data {{\n    train = synthetic(samples = 200, classes = 10)\n    val = synthetic(samples = 100, classes = 10, seed = 1)\n}}\n\
         augment {{\n    crop.kind = none\n    repeated = 1\n}}\n\
         optimizer.lr = 1e-2\n\
         schedule {{\n    length = 12 epochs\n    warmup = 1 epoch\n    unit = steps\n}}\n\
         train {{\n    batch = 16\n    ema = none\n    output = \"{}\"\n}}\n",
        dir.join("runs").display()
    );
    let teacher = checked(&dir, "convnet.deit", &teacher_text, &[]);
    let taught = train(&teacher, false, None);
    assert!(taught.final_top1.is_some_and(|t| t > 0.5), "{taught:?}");
    let ckpt = taught.dir.join("checkpoint.safetensors");
    let student = tiny_recipe(
        &dir,
        &[
            "model.distilled=true",
            "distill.mode=hard",
            "distill.alpha=0.5",
            "distill.teacher.arch=convnet",
            &format!(
                "distill.teacher.recipe=\"{}\"",
                dir.join("convnet.deit").display()
            ),
            &format!("distill.teacher.checkpoint=\"{}\"", ckpt.display()),
            "schedule.length=2epochs",
        ],
    );
    let report = train(&student, false, None);
    let run = reader::load(&report.dir).expect("readable");
    let lines = metrics(&report.dir);
    assert_epochs_match(&run, &lines, true);
    for m in &lines {
        let step = m["step"].as_u64().expect("step");
        // α·kd / ((1−α)·base + α·kd) with both losses positive.
        let share = at(&run, tag::TEACHER_SHARE, step);
        assert!(share > 0.0 && share < 1.0, "{share}");
        // A teacher well above chance (0.1) on the student's batches.
        let agreement = at(&run, tag::TEACHER_AGREEMENT, step);
        assert!((0.2..=1.0).contains(&agreement), "{agreement}");
        let time = at(&run, tag::TEACHER_TIME, step);
        assert!(time > 0.0 && time < 1.0, "{time}");
    }
}

/// The interpreter to ask: `DEITC_PYTHON` (which must then have `tensorboard`), else
/// `python3` when it has it.
fn python_with_tensorboard() -> Option<String> {
    let has = |py: &str| {
        std::process::Command::new(py)
            .args(["-c", "import tensorboard"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    match std::env::var("DEITC_PYTHON") {
        Ok(py) if !py.is_empty() => {
            assert!(has(&py), "DEITC_PYTHON={py} cannot `import tensorboard`");
            Some(py)
        }
        _ => has("python3").then(|| "python3".to_string()),
    }
}

/// Loads a run directory with TensorBoard's `EventAccumulator` (the legacy one, and the
/// plugin one the server uses) and prints what it holds as JSON.
const LOAD: &str = r#"
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
everything = {"scalars": 0, "tensors": 0, "images": 0}
acc = ea.EventAccumulator(sys.argv[1], size_guidance=everything)
acc.Reload()
tags = acc.Tags()
out = {
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "texts": {t: [[e.step, b"".join(e.tensor_proto.string_val).decode()] for e in acc.Tensors(t)]
              for t in tags["tensors"]},
    "text_plugin": {t: acc.SummaryMetadata(t).plugin_data.plugin_name for t in tags["tensors"]},
    "images": {t: [[e.step, e.width, e.height] for e in acc.Images(t)] for t in tags["images"]},
}
plugin = pea.EventAccumulator(sys.argv[1], size_guidance={"tensors": 0})
plugin.Reload()
out["plugins"] = {name: sorted(plugin.PluginTagToContent(name)) for name in ["scalars", "text", "images"]}
out["plugin_steps"] = {t: [e.step for e in plugin.Tensors(t)] for t in plugin.PluginTagToContent("scalars")}
print(json.dumps(out))
"#;

#[test]
fn tensorboard_itself_reads_a_resumed_run_as_deitc_does() {
    let Some(python) = python_with_tensorboard() else {
        eprintln!(
            "skipped: no Python with the `tensorboard` package (set DEITC_PYTHON to an \
             interpreter that has it)"
        );
        return;
    };
    let dir = temp_dir("tb-python");
    let (_, resumed) = crashed_and_resumed(&dir);
    let out = std::process::Command::new(&python)
        .args(["-c", LOAD])
        .arg(&resumed.dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ours = reader::load(&resumed.dir).expect("readable");

    // Every scalar tag, with the same (step, value)s: the restart's purge included.
    let scalars = seen["scalars"].as_object().expect("scalars");
    let mut tags: Vec<&String> = scalars.keys().collect();
    tags.sort();
    assert_eq!(tags, ours.scalars.keys().collect::<Vec<_>>());
    for (t, points) in scalars {
        let points: Vec<(i64, f32)> = points
            .as_array()
            .expect("points")
            .iter()
            .map(|p| {
                (
                    p[0].as_i64().expect("step"),
                    p[1].as_f64().expect("value") as f32,
                )
            })
            .collect();
        assert_eq!(points, ours.scalar(t), "{t}");
    }
    let steps: Vec<i64> = ours.scalar(tag::LOSS).iter().map(|p| p.0).collect();
    assert_eq!(steps, (1..=18).collect::<Vec<_>>());
    assert_epochs_match(&ours, &metrics(&resumed.dir), true);

    // The recipe, as the text plugin's.
    let ron = std::fs::read_to_string(resumed.dir.join("resolved.ron")).expect("resolved.ron");
    assert_eq!(
        seen["texts"][tag::RECIPE],
        serde_json::json!([[0, fenced(&ron)]])
    );
    assert_eq!(seen["text_plugin"][tag::RECIPE], "text");
    let image = &seen["images"][tag::SAMPLES][0];
    let ours_image = &ours.images[tag::SAMPLES][0].1;
    assert_eq!(image[0], 0);
    assert_eq!(image[1], ours_image.width);
    assert_eq!(image[2], ours_image.height);

    // The server's reader sorts each tag into its plugin's dashboard.
    let plugins = &seen["plugins"];
    assert_eq!(plugins["text"], serde_json::json!([tag::RECIPE]));
    assert_eq!(plugins["images"], serde_json::json!([tag::SAMPLES]));
    assert_eq!(
        plugins["scalars"].as_array().map(Vec::len),
        Some(ours.scalars.len())
    );
    let server_steps = &seen["plugin_steps"][tag::LOSS];
    assert_eq!(server_steps, &serde_json::json!(steps));
}
