//! Pipelines end to end on tiny synthetic stages (compiled-in shapes): stages run in
//! dependency order; a finished stage is skipped until its recipe, or a stage it uses,
//! changes; `--stage` runs one stage and what it needs; `--set <stage>.…` changes one stage;
//! a stage output with no finished run is `deit::stage::not_run`.

mod common;

use common::{run, temp_dir};
use deitc::diag::Describe;
use std::path::{Path, PathBuf};

/// A teacher convnet → distilled student → the student fine-tuned, all on 16 px synthetic
/// data, one epoch each, with runs under `dir/runs`.
fn pipeline(dir: &Path) -> PathBuf {
    let base = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n}}\n\
         data {{\n    train = synthetic(samples = 64, classes = 10)\n    val = synthetic(samples = 32, classes = 10, seed = 1)\n}}\n\
         augment.repeated = 1\n\
         schedule {{\n    length = 1 epoch\n    warmup = 0 epochs\n}}\n\
         train {{\n    batch = 16\n    output = \"{}\"\n}}\n",
        dir.join("runs").display()
    );
    std::fs::write(dir.join("tiny.deit"), base).expect("write");
    std::fs::write(
        dir.join("tiny_convnet.deit"),
        "extends \"tiny.deit\"\ndelete model\nmodel {\n    family = convnet\n    image = 16\n    width = 8\n}\n",
    )
    .expect("write");
    let p = dir.join("p.deit");
    std::fs::write(
        &p,
        "stage teacher {\n    extends \"tiny_convnet.deit\"\n}\n\n\
         stage student {\n    extends \"tiny.deit\"\n    model.distilled = true\n    distill {\n        mode = hard\n        teacher {\n            arch = convnet\n            checkpoint = stage.teacher.best\n        }\n    }\n}\n\n\
         stage tuned {\n    extends \"tiny.deit\"\n    model.distilled = true\n    distill.eval_head = cls\n    finetune {\n        from = stage.student.last\n        train_mode = true\n    }\n}\n",
    )
    .expect("write");
    p
}

fn runs(dir: &Path, stage: &str) -> usize {
    std::fs::read_dir(dir.join("runs").join(format!("p.{stage}")))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn stages_run_in_order_once_and_rerun_below_a_change() {
    let dir = temp_dir("pipeline");
    let p = pipeline(&dir);
    let p = p.to_str().expect("utf-8 path");

    let (code, out, err) = run(&["run", p, "--quiet"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for s in ["teacher", "student", "tuned"] {
        assert_eq!(runs(&dir, s), 1, "{s}: {out}");
        let run = dir.join("runs").join(format!("p.{s}")).join("001");
        assert!(run.join("summary.json").exists(), "{s} finished");
    }
    // The student's recorded recipe holds the teacher's: its hash covers everything above.
    let resolved =
        std::fs::read_to_string(dir.join("runs/p.student/001/resolved.ron")).expect("resolved.ron");
    assert!(resolved.contains("name: \"p.teacher\""), "{resolved}");

    // Nothing changed: every stage is up to date.
    let (code, out, _) = run(&["run", p, "--quiet"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("up to date").count(), 3, "{out}");
    assert_eq!(
        runs(&dir, "teacher") + runs(&dir, "student") + runs(&dir, "tuned"),
        3
    );

    // A change to the student reruns it and the stage below, not the teacher.
    let (code, out, err) = run(&["run", p, "--quiet", "--set", "student.distill.alpha=0.3"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        (
            runs(&dir, "teacher"),
            runs(&dir, "student"),
            runs(&dir, "tuned")
        ),
        (1, 2, 2),
        "{out}"
    );

    // A change to every stage (`--set` without a stage name) reruns them all.
    let (code, _, err) = run(&["run", p, "--quiet", "--set", "train.seed=1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (
            runs(&dir, "teacher"),
            runs(&dir, "student"),
            runs(&dir, "tuned")
        ),
        (2, 3, 3)
    );
}

#[test]
fn stage_runs_one_stage_and_what_it_uses() {
    let dir = temp_dir("pipeline-stage");
    let p = pipeline(&dir);
    let p = p.to_str().expect("utf-8 path");
    let (code, out, err) = run(&["run", p, "--quiet", "--stage", "student"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        (
            runs(&dir, "teacher"),
            runs(&dir, "student"),
            runs(&dir, "tuned")
        ),
        (1, 1, 0)
    );
    let (code, _, err) = run(&["run", p, "--stage", "studnet"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("deit::stage::not_found") && err.contains("`student`"),
        "{err}"
    );
}

#[test]
fn a_stage_output_without_a_finished_run_is_not_run() {
    use deitc::train::run::{run as train, Progress, RunOptions};
    let dir = temp_dir("pipeline-notrun");
    let p = pipeline(&dir);
    let checked = deitc::check::check_stage(
        &p,
        Some("tuned"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert!(checked.ok(), "{:?}", checked.diags.items);
    let r = checked.recipe.expect("recipe");
    let opts = RunOptions {
        resume: false,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let resolved = r.to_ron().expect("ron");
    let err = train(
        &deitc::train::catalogue::Registry::compiled(),
        &r,
        &resolved,
        &opts,
        &mut |_| {},
    )
    .expect_err("the student has not run");
    assert_eq!(err.code(), "deit::stage::not_run");
    let message = err.describe().message;
    assert!(message.contains("stage `student`"), "{message}");
    assert_eq!(
        runs(&dir, "tuned"),
        0,
        "a failed start leaves no run directory"
    );
}

#[test]
fn the_bundled_pipeline_checks_and_names_its_stages() {
    let (code, out, err) = run(&["check", "recipes/digits_distilled.deit"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("run order teacher → student"), "{out}");
    assert!(out.contains("digits_distilled.teacher: ok"), "{out}");
    assert!(
        out.contains("distill   hard from convnet (stage `teacher`"),
        "{out}"
    );
}

#[test]
fn a_stage_another_process_is_training_is_not_trained_beside_it() {
    use deitc::train::run::{run as train, Progress, RunOptions};
    use deitc::train::run_dir;
    let dir = temp_dir("pipeline-locked");
    let p = pipeline(&dir);
    let ps = p.to_str().expect("utf-8 path");
    let (code, out, err) = run(&["run", ps, "--stage", "teacher", "--quiet"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The student stage started (its run directory, of its current recipe, exists) and is
    // still being written: another process holds its lock (here, a second open file).
    let checked = deitc::check::check_stage(
        &p,
        Some("student"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    let r = checked.recipe.expect("recipe");
    let opts = RunOptions {
        resume: false,
        progress: Progress::Quiet,
        crash_after_steps: Some(1),
    };
    let resolved = r.to_ron().expect("ron");
    let registry = deitc::train::catalogue::Registry::compiled();
    let started = train(&registry, &r, &resolved, &opts, &mut |_| {}).expect("started");
    let held = run_dir::lock(&started.dir).expect("lock");
    for args in [
        vec!["run", ps, "--quiet"],
        vec!["run", ps, "--quiet", "--resume"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{args:?}: {out}\n{err}");
        assert!(out.contains("stage 1/3 `teacher`: up to date"), "{out}");
        assert!(
            err.contains("deit::run::locked") && err.contains(&std::process::id().to_string()),
            "{err}"
        );
        assert_eq!(runs(&dir, "student"), 1, "no second student run beside it");
        assert_eq!(runs(&dir, "tuned"), 0);
    }
    // Released (its process gone), `--resume` takes the stage over and the rest follows.
    drop(held);
    let (code, out, err) = run(&["run", ps, "--quiet", "--resume"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!((runs(&dir, "student"), runs(&dir, "tuned")), (1, 1));
}
