//! Generated graphs end to end, through the `deitc` binary: a shape that is not compiled in
//! is reported by `check`, built by `deitc build` (cargo, release, into a cache under
//! `target/tmp`), trained by `deitc run` (handed over to the generated binary), listed by
//! `deitc cache list`; a missing cargo or source is a diagnostic.
//!
//! The first build compiles deitc's dependencies into the cache (a few minutes on two
//! cores); the cache is kept between local test runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A recipe of a shape nothing compiles in (`test_tiny` with depth 1) on synthetic data.
fn recipe(dir: &Path) -> PathBuf {
    let path = dir.join("depth1.deit");
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 1\n    heads = 2\n}}\n\
         data {{\n    train = synthetic(samples = 128, classes = 10)\n    \
         val = synthetic(samples = 64, classes = 10, seed = 1)\n}}\n\
         augment {{\n    crop.kind = none\n    repeated = 1\n}}\n\
         schedule {{\n    length = 2 epochs\n    warmup = 1 epoch\n}}\n\
         train {{\n    batch = 32\n    output = \"{}\"\n}}\n",
        dir.join("runs").display()
    );
    std::fs::write(&path, text).expect("write recipe");
    path
}

fn cache() -> PathBuf {
    std::env::current_dir()
        .expect("cwd")
        .join("target/tmp/graph-cache")
}

/// Runs the binary with `env`, killing it after `limit`.
fn deitc(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deitc"));
    cmd.args(args)
        .env("DEITC_CACHE", cache())
        .env_remove("DEITC_GENERATED")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn deitc");
    let t0 = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("`deitc {}` took more than {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.wait_with_output().expect("output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_shape_that_is_not_compiled_in_is_generated_built_and_trained() {
    let dir = common::temp_dir("generated");
    let r = recipe(&dir);
    let r = r.to_str().expect("utf-8 path");

    let check = deitc(&["check", r], &[], Duration::from_secs(60));
    let (out, err) = (text(&check.stdout), text(&check.stderr));
    assert!(check.status.success(), "{err}");
    assert!(err.contains("deit::run::shape_not_compiled"), "{err}");
    assert!(
        out.contains("graph     generated on the first `run`"),
        "{out}"
    );

    // Ten minutes covers a first build of the dependencies on two cores.
    let build = deitc(&["build", r], &[], Duration::from_secs(900));
    let (out, err) = (text(&build.stdout), text(&build.stderr));
    assert!(build.status.success(), "{out}\n{err}");
    assert!(
        out.contains("built") || out.contains("already built"),
        "{out}"
    );
    assert!(!err.contains("shape_not_compiled"), "{err}");

    let again = deitc(&["build", r], &[], Duration::from_secs(60));
    assert!(text(&again.stdout).contains("already built"));

    let run = deitc(&["run", r, "--quiet"], &[], Duration::from_secs(300));
    let (out, err) = (text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "{out}\n{err}");
    assert!(out.contains("done after 2 epochs (8 steps)"), "{out}");
    assert!(dir.join("runs/depth1/001/best.safetensors").is_file());

    let list = deitc(&["cache", "list"], &[], Duration::from_secs(60));
    let out = text(&list.stdout);
    assert!(
        out.contains("built") && out.contains("embed 64 · depth 1"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_cargo_no_source_and_a_failed_build_are_diagnostics() {
    let dir = common::temp_dir("generated-missing");
    let r = recipe(&dir);
    let r = r.to_str().expect("utf-8 path");
    // Another shape, so the cached graph of the test above is not used.
    let args = ["run", r, "--quiet", "--set", "model.depth=3"];

    let run = deitc(
        &args,
        &[("DEITC_CARGO", "/nonexistent/cargo")],
        Duration::from_secs(60),
    );
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("deit::graph::no_cargo"), "{err}");
    assert!(err.contains("/nonexistent/cargo"), "{err}");

    // A "cargo" that answers `--version` but builds nothing.
    let run = deitc(&args, &[("DEITC_CARGO", "echo")], Duration::from_secs(60));
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("deit::graph::build"), "{err}");

    let empty = dir.join("not-deitc");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let empty = empty.to_str().expect("utf-8 path");
    let run = deitc(&args, &[("DEITC_SOURCE", empty)], Duration::from_secs(60));
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("deit::graph::source"), "{err}");

    // `bench --data-only` times the loader alone: no graph, so no cargo and no source needed.
    let bench = [
        "bench",
        r,
        "--data-only",
        "--steps",
        "1",
        "--set",
        "model.depth=3",
    ];
    let no_tools = [
        ("DEITC_SOURCE", empty),
        ("DEITC_CARGO", "/nonexistent/cargo"),
    ];
    let run = deitc(&bench, &no_tools, Duration::from_secs(60));
    let (out, err) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("data pipeline only"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
