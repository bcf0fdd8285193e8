//! The RegNetY teacher (`deitc::model::regnet`, `arch = regnety_160`; its configuration
//! arithmetic and parameter count are unit tests in `config.rs`): eval-mode logits against
//! timm's on a small RegNetY of the same family (tests/fixtures/regnet/, written by make_fixture.py: random weights and random
//! BatchNorm statistics, odd image sizes); bad checkpoints give errors naming the key; and a
//! distilled student trains end to end from a `regnety_160`-shaped checkpoint.

mod common;

use common::temp_dir;
use deitc::check::check;
use deitc::interop::weights::{self, Pick};
use deitc::model::regnet::{RegNet, RegNetCfg, REGNETY_160};
use deitc::model::TensorFile;
use deitc::train::regnet_teacher;
use deitc::train::run::{run, Progress, RunOptions};
use deitc::train::teacher::Teacher;
use dfdx::prelude::*;
use std::path::Path;

const WEIGHTS: &str = "tests/fixtures/regnet/weights.safetensors";
const IO: &str = "tests/fixtures/regnet/io.safetensors";

/// The fixture network's configuration, from its metadata.
fn fixture_cfg() -> (RegNetCfg, usize, usize) {
    let f = TensorFile::read(WEIGHTS).expect("fixture");
    let m = f.metadata();
    let num = |k: &str| m[k].parse::<f64>().expect(k);
    let cfg = RegNetCfg {
        depth: num("depth") as usize,
        w0: num("w0") as usize,
        wa: num("wa"),
        wm: num("wm"),
        group_size: num("group_size") as usize,
        se_ratio: num("se_ratio"),
        stem_width: num("stem_width") as usize,
    };
    (cfg, num("classes") as usize, num("params") as usize)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn logits_match_timm_on_a_small_regnety() {
    let (cfg, classes, params) = fixture_cfg();
    let arch = cfg.arch(3, classes);
    let widths: Vec<usize> = arch.stages.iter().map(|s| s.width).collect();
    assert_eq!(
        widths,
        [8, 16, 40, 88],
        "timm's stages for the fixture config"
    );
    assert_eq!(arch.num_params(), params, "timm's parameter count");
    let w = weights::read(Path::new(WEIGHTS), Pick::Model).expect("read");
    let dev = Cpu::default();
    let net = RegNet::load(arch, &w.tensors, &dev).expect("load");
    let io = TensorFile::read(IO).expect("io");
    let mut worst: f32 = 0.0;
    for side in ["32", "37"] {
        let (shape, x) = io.f32s(&format!("x{side}")).expect("x");
        let (_, want) = io.f32s(&format!("logits{side}")).expect("logits");
        let dims = [shape[0], shape[1], shape[2], shape[3]];
        let got = net.forward_host(&x, dims).expect("forward").as_vec();
        let err = max_abs_diff(&got, &want);
        eprintln!("regnet fixture {side}×{side}: max |Δlogit| = {err:.3e}");
        assert!(err <= 1e-4, "{side}×{side}: max abs error {err}");
        worst = worst.max(err);
    }
    eprintln!("regnet fixture: worst max |Δlogit| = {worst:.3e}");
}

#[test]
fn the_teacher_splits_large_batches_without_changing_logits() {
    let (cfg, classes, _) = fixture_cfg();
    let t =
        regnet_teacher::load_arch::<Cpu>(cfg.arch(3, classes), WEIGHTS, 32, 0).expect("teacher");
    assert_eq!((t.classes(), t.input()), (10, (3, 32)));
    let io = TensorFile::read(IO).expect("io");
    let (_, x) = io.f32s("x32").expect("x");
    let (_, want) = io.f32s("logits32").expect("logits");
    // 2·10 = 20 images: more than one chunk.
    let reps = 10;
    let images: Vec<f32> = (0..reps).flat_map(|_| x.iter().copied()).collect();
    let got = t.eval_logits(&images, 2 * reps).expect("logits");
    let want: Vec<f32> = (0..reps).flat_map(|_| want.iter().copied()).collect();
    assert!(regnet_teacher::CHUNK < 2 * reps);
    assert!(max_abs_diff(&got, &want) <= 1e-4);
    // A buffer of the wrong size is an error, not a panic.
    let err = t.eval_logits(&images[1..], 2).expect_err("wrong size");
    assert!(err.contains("for 2 images of 3×32×32"), "{err}");
}

/// A safetensors file from `(name, dtype, shape, bytes)` entries.
fn safetensors(entries: &[(String, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in entries {
        let begin = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend(data);
    out
}

/// The fixture's tensors as safetensors entries, `edit`ed.
fn fixture_with(edit: impl Fn(&mut Vec<(String, &'static str, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let w = weights::read(Path::new(WEIGHTS), Pick::Model).expect("read");
    let mut entries: Vec<(String, &str, Vec<usize>, Vec<u8>)> = w
        .tensors
        .into_iter()
        .map(|(k, (s, v))| {
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (k, "F32", s, bytes)
        })
        .collect();
    edit(&mut entries);
    safetensors(&entries)
}

/// The error loading `bytes` as the fixture network (read, then load).
fn load_error(bytes: Vec<u8>, tag: &str) -> String {
    let dir = temp_dir("regnet-bad");
    let path = dir.join(format!("{tag}.safetensors"));
    std::fs::write(&path, bytes).expect("write");
    let (cfg, classes, _) = fixture_cfg();
    let path = path.display().to_string();
    match regnet_teacher::load_arch::<Cpu>(cfg.arch(3, classes), &path, 32, 0) {
        Ok(_) => panic!("{tag}: loaded"),
        Err(e) => e,
    }
}

#[test]
fn bad_checkpoints_are_errors_naming_the_key() {
    let missing = load_error(
        fixture_with(|e| e.retain(|(k, ..)| k != "s3.b2.se.fc1.bias")),
        "missing",
    );
    assert!(missing.contains("`s3.b2.se.fc1.bias`"), "{missing}");
    let shape = load_error(
        fixture_with(|e| {
            for (k, _, s, _) in e.iter_mut() {
                if k == "s2.b1.conv2.conv.weight" {
                    // Same number of values, another shape.
                    *s = vec![s[0] * s[1], 1, 3, 3];
                }
            }
        }),
        "shape",
    );
    assert!(
        shape.contains("`s2.b1.conv2.conv.weight` has shape"),
        "{shape}"
    );
    let dtype = load_error(
        fixture_with(|e| {
            for (k, d, _, _) in e.iter_mut() {
                if k == "head.fc.bias" {
                    *d = "I32";
                }
            }
        }),
        "dtype",
    );
    assert!(
        dtype.contains("head.fc.bias") && dtype.contains("I32"),
        "{dtype}"
    );
    let extra = load_error(
        fixture_with(|e| e.push(("s9.b1.conv1.conv.weight".into(), "F32", vec![1], vec![0; 4]))),
        "extra",
    );
    assert!(extra.contains("s9.b1.conv1.conv.weight"), "{extra}");
    let junk = load_error(
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all".to_vec(),
        "junk",
    );
    assert!(junk.contains("safetensors"), "{junk}");
    let truncated = std::fs::read(WEIGHTS).expect("fixture");
    let cut = load_error(truncated[..truncated.len() / 2].to_vec(), "cut");
    assert!(!cut.is_empty());
    // The fixture is a RegNetY, but not regnety_160's: the shapes say so.
    let err = regnet_teacher::load::<Cpu>(WEIGHTS, 10, 32, 0)
        .err()
        .expect("not regnety_160");
    assert!(
        err.contains("`stem.conv.weight` has shape [8, 3, 3, 3]"),
        "{err}"
    );
}

/// Deterministic small values for a synthetic `regnety_160` checkpoint.
fn synthetic_regnety_160(path: &Path, classes: usize) {
    let arch = REGNETY_160.arch(3, classes);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let entries: Vec<(String, &str, Vec<usize>, Vec<u8>)> = arch
        .tensors()
        .into_iter()
        .map(|(k, s)| {
            let n: usize = s.iter().product();
            let fan_in = (n / s[0]).max(1) as f32;
            let values: Vec<f32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    if k.ends_with("running_var") || k.ends_with("bn.weight") {
                        1.0 + 0.2 * u
                    } else if k.ends_with("bias") || k.ends_with("running_mean") {
                        0.1 * u
                    } else {
                        u * (6.0 / fan_in).sqrt()
                    }
                })
                .collect();
            (
                k,
                "F32",
                s,
                values.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    std::fs::write(path, safetensors(&entries)).expect("write teacher");
}

#[test]
fn a_distilled_student_trains_from_a_regnety_160_checkpoint() {
    let dir = temp_dir("regnety-160");
    let ckpt = dir.join("regnety_160.safetensors");
    synthetic_regnety_160(&ckpt, 10);
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n    distilled = true\n}}\n\
         data {{\n    train = synthetic(samples = 32, classes = 10)\n    val = synthetic(samples = 16, classes = 10, seed = 1)\n}}\n\
         augment {{\n    crop.kind = none\n    repeated = 1\n}}\n\
         schedule {{\n    length = 1 epoch\n    warmup = 0 epochs\n}}\n\
         distill {{\n    mode = hard\n    teacher {{\n        arch = regnety_160\n        checkpoint = \"{}\"\n    }}\n}}\n\
         train {{\n    batch = 16\n    ema = none\n    output = \"{}\"\n}}\n",
        ckpt.display(),
        dir.join("runs").display()
    );
    let path = dir.join("distilled.deit");
    std::fs::write(&path, text).expect("write recipe");
    let c = check(
        &path,
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert!(c.ok() && c.diags.items.is_empty(), "{:?}", c.diags.items);
    let r = c.recipe.expect("recipe");
    let teacher = deitc::train::teacher::build(&deitc::train::catalogue::Registry::compiled(), &r)
        .expect("teacher")
        .expect("distilling");
    assert_eq!(teacher.num_params(), REGNETY_160.arch(3, 10).num_params());
    assert_eq!(teacher.input(), (3, 16));
    let logits = teacher
        .eval_logits(&vec![0.5; 2 * 3 * 16 * 16], 2)
        .expect("logits");
    assert!(logits.len() == 20 && logits.iter().all(|v| v.is_finite()));
    let opts = RunOptions {
        resume: false,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let report = run(
        &deitc::train::catalogue::Registry::compiled(),
        &r,
        &r.to_ron().expect("ron"),
        &opts,
        &mut |_| {},
    )
    .expect("run");
    assert_eq!(report.steps, 2);
    // The synthetic checkpoint is 335 MB: don't leave it behind.
    let _ = std::fs::remove_dir_all(&dir);
}

/// The full `regnety_160` against timm at 224 px, on files too large to ship: run with
/// `DEITC_REGNETY_160_DIR=dir cargo test --release --test regnet -- --ignored --nocapture`,
/// where `dir` holds `regnety_160.safetensors` (a timm `state_dict`) and `io.safetensors`
/// (`x` `(B, 3, 224, 224)` and timm's eval-mode `logits` for it). Prints the largest
/// difference and the forward time.
#[test]
#[ignore = "needs DEITC_REGNETY_160_DIR (a timm regnety_160 export and its logits)"]
fn regnety_160_matches_timm_at_224() {
    let Ok(dir) = std::env::var("DEITC_REGNETY_160_DIR") else {
        eprintln!("DEITC_REGNETY_160_DIR is not set");
        return;
    };
    let dir = Path::new(&dir);
    let t0 = std::time::Instant::now();
    let ckpt = dir.join("regnety_160.safetensors").display().to_string();
    let teacher = regnet_teacher::load::<Cpu>(&ckpt, 1000, 224, 0).expect("load");
    eprintln!("load: {:.2} s", t0.elapsed().as_secs_f64());
    let io = TensorFile::read(dir.join("io.safetensors")).expect("io");
    let (shape, x) = io.f32s("x").expect("x");
    let (_, want) = io.f32s("logits").expect("logits");
    let n = shape[0];
    let mut got = Vec::new();
    for i in 0..3 {
        let t = std::time::Instant::now();
        got = teacher.eval_logits(&x, n).expect("logits");
        let s = t.elapsed().as_secs_f64();
        eprintln!(
            "forward {i}: batch {n} at 224: {s:.2} s, {:.2} img/s",
            n as f64 / s
        );
    }
    let err = max_abs_diff(&got, &want);
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!("regnety_160 at 224: max |Δlogit| = {err:.3e} (largest |logit| {scale:.1})");
    assert!(err <= 1e-3 * scale.max(1.0), "max abs error {err}");
}
