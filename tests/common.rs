//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("deitc-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs the CLI in-process; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (u8, String, String) {
    let (mut out, stdout, stderr) = deitc::cli::Output::captured(80);
    let code = deitc::cli::run_args(args.iter().copied(), &mut out);
    (code, stdout.text(), stderr.text())
}

/// Every shipped recipe path, sorted.
pub fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("recipes")
        .expect("recipes/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deit"))
        .collect();
    v.sort();
    v
}

/// `recipes/digits_vit.deit` with the settings the data tests rely on pinned: 8×8×1 digits,
/// batch 64, seed 0, a 1-pixel random crop, label smoothing 0.1, no other augmentation.
pub fn digits_recipe() -> deitc::ir::Recipe {
    use deitc::ir::{CropKind, Source, Split};
    let checked = deitc::check::check(
        std::path::Path::new("recipes/digits_vit.deit"),
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    let mut r = checked.recipe.expect("recipes/digits_vit.deit checks");
    r.model.image = 8;
    r.model.channels = 1;
    r.model.classes = 10;
    r.data.train = Source::Digits {
        split: Split::Train,
    };
    r.data.val = Source::Digits { split: Split::Val };
    r.data.mean = vec![0.3054];
    r.data.std = vec![0.3760];
    r.train.batch = 64;
    r.train.seed = 0;
    r.augment.crop.kind = CropKind::Random;
    r.augment.crop.padding = 1;
    r.augment.hflip = 0.0;
    r.augment.label_smoothing = 0.1;
    r.augment.repeated = 1;
    r.augment.rand_augment = None;
    r.augment.auto_augment = None;
    r.augment.color_jitter = None;
    r.augment.random_erasing = None;
    r.augment.mix = None;
    r
}
