//! Sweeps end to end on a tiny synthetic recipe (a compiled-in shape): every point runs once,
//! under a directory named by its values; a second run does nothing; changing a value
//! reruns only the points that change; `--point` runs the points it picks; `--sweep` adds
//! an axis; a swept stage of a pipeline runs each point; `sweep.json` describes the points.

mod common;

use common::{run, temp_dir};
use std::path::{Path, PathBuf};

/// A tiny DeiT on 16 px synthetic data, one epoch, runs under `dir/runs`, with `sweep`.
fn recipe(dir: &Path, sweep: &str) -> PathBuf {
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n}}\n\
         data {{\n    train = synthetic(samples = 32, classes = 10)\n    val = synthetic(samples = 16, classes = 10, seed = 1)\n}}\n\
         augment.repeated = 1\n\
         schedule {{\n    length = 1 epoch\n    warmup = 0 epochs\n}}\n\
         train {{\n    batch = 16\n    output = \"{}\"\n}}\n{sweep}",
        dir.join("runs").display()
    );
    let p = dir.join("s.deit");
    std::fs::write(&p, text).expect("write");
    p
}

/// The point directories under `runs/<name>`, sorted, and how many runs each holds.
fn points(dir: &Path, name: &str) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = std::fs::read_dir(dir.join("runs").join(name))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| {
                    let runs = std::fs::read_dir(e.path()).map_or(0, |d| {
                        d.flatten()
                            .filter(|r| r.file_name().to_string_lossy().parse::<u32>().is_ok())
                            .count()
                    });
                    (e.file_name().to_string_lossy().into_owned(), runs)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn points_run_once_and_rerun_only_when_they_change() {
    let dir = temp_dir("sweep");
    let sweep = "sweep {\n    optimizer.lr = [1e-3, 5e-4]\n    train.seed = [0, 1]\n}\n";
    let p = recipe(&dir, sweep);
    let p = p.to_str().expect("utf-8 path");

    let (code, out, err) = run(&["run", p, "--quiet"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let names = [
        "lr=1e-3,seed=0",
        "lr=1e-3,seed=1",
        "lr=5e-4,seed=0",
        "lr=5e-4,seed=1",
    ];
    assert_eq!(
        points(&dir, "s"),
        names.iter().map(|n| (n.to_string(), 1)).collect::<Vec<_>>()
    );
    for n in names {
        let run = dir.join("runs/s").join(n).join("001");
        assert!(run.join("summary.json").exists(), "{n} finished");
        let resolved = std::fs::read_to_string(run.join("resolved.ron")).expect("resolved.ron");
        assert!(resolved.contains(&format!("name: \"s/{n}\"")), "{resolved}");
    }
    // Each point trains its own values.
    let resolved = std::fs::read_to_string(dir.join("runs/s/lr=5e-4,seed=1/001/resolved.ron"))
        .expect("resolved.ron");
    assert!(resolved.contains("lr: 0.0005"), "{resolved}");
    assert!(resolved.contains("seed: 1"), "{resolved}");

    // The manifest lists every point with its values and hash.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("runs/s/sweep.json")).expect("sweep.json"),
    )
    .expect("json");
    assert_eq!(manifest["name"], "s");
    assert_eq!(manifest["axes"][0], "optimizer.lr");
    assert_eq!(manifest["points"].as_array().map(Vec::len), Some(4));
    assert_eq!(manifest["points"][3]["dir"], "lr=5e-4,seed=1");
    assert_eq!(manifest["points"][3]["values"]["optimizer.lr"], "5e-4");
    let recorded = std::fs::read_to_string(dir.join("runs/s/lr=5e-4,seed=1/001/resolved.ron"))
        .expect("resolved.ron");
    let hash = manifest["points"][3]["hash"].as_str().expect("hash");
    assert!(recorded.contains(hash), "the manifest's hash is the run's");

    // Nothing changed: nothing runs.
    let (code, out, _) = run(&["run", p, "--quiet"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("up to date").count(), 4, "{out}");
    assert!(points(&dir, "s").iter().all(|(_, n)| *n == 1));

    // One value changes: only its points rerun (a new value is a new point).
    let p = recipe(
        &dir,
        "sweep {\n    optimizer.lr = [1e-3, 2e-4]\n    train.seed = [0, 1]\n}\n",
    );
    let p = p.to_str().expect("utf-8 path");
    let (code, out, err) = run(&["run", p, "--quiet"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.matches("up to date").count(), 2, "{out}");
    assert!(dir.join("runs/s/lr=2e-4,seed=1/001/summary.json").exists());

    // `--point` runs only what it picks; `--sweep` adds an axis.
    let (code, out, err) = run(&[
        "run",
        p,
        "--quiet",
        "--sweep",
        "augment.label_smoothing=0.0,0.2",
        "--point",
        "lr=1e-3,seed=0",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let added: Vec<String> = points(&dir, "s")
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.contains("label_smoothing"))
        .collect();
    assert_eq!(
        added,
        [
            "lr=1e-3,seed=0,label_smoothing=0.0",
            "lr=1e-3,seed=0,label_smoothing=0.2"
        ]
    );
}

#[test]
fn a_point_that_does_not_check_stops_the_run_before_any_training() {
    let dir = temp_dir("sweep-bad-point");
    let p = recipe(&dir, "sweep {\n    model.heads = [2, 3]\n}\n");
    let p = p.to_str().expect("utf-8 path");
    let (code, _, err) = run(&["run", p, "--quiet"]);
    assert_eq!(code, 1);
    assert!(err.contains("deit::rule::embed_heads"), "{err}");
    assert!(err.contains("in sweep point `heads=3`"), "{err}");
    assert!(!dir.join("runs").exists(), "nothing ran");
}

#[test]
fn a_swept_stage_runs_each_point_after_its_teacher() {
    let dir = temp_dir("sweep-stage");
    let base = recipe(&dir, "");
    std::fs::rename(&base, dir.join("tiny.deit")).expect("rename");
    let p = dir.join("p.deit");
    std::fs::write(
        &p,
        "stage teacher {\n    extends \"tiny.deit\"\n}\n\n\
         stage student {\n    extends \"tiny.deit\"\n    model.distilled = true\n    distill {\n        mode = hard\n        teacher {\n            arch = deit\n            checkpoint = stage.teacher.best\n        }\n    }\n    sweep {\n        train.seed = [0, 1]\n    }\n}\n",
    )
    .expect("write");
    let p = p.to_str().expect("utf-8 path");
    let (code, out, err) = run(&["run", p]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("stage 2/3 `student` point `seed=0`: training p.student/seed=0"),
        "{err}"
    );
    assert_eq!(
        points(&dir, "p.student"),
        [("seed=0".to_string(), 1), ("seed=1".to_string(), 1)]
    );
    let (code, out, _) = run(&["run", p, "--quiet"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("up to date").count(), 3, "{out}");
}
