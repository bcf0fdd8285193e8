//! The shipped recipes: they check, with the exact timm parameter counts; they are in
//! canonical layout; `explain` round-trips them; overrides behave.

mod common;

use common::{run, shipped};
use deitc::check::{check, check_stage, cost::Cost};
use deitc::ir::Recipe;
use deitc::source::{SourceKind, SourceMap};
use deitc::syntax::{format::format, parse_recipe};
use std::path::Path;

const PAPER: [(&str, u64); 8] = [
    ("deit_tiny_patch16_224", 5_717_416),
    ("deit_small_patch16_224", 22_050_664),
    ("deit_base_patch16_224", 86_567_656),
    ("deit_tiny_distilled_patch16_224", 5_910_800),
    ("deit_small_distilled_patch16_224", 22_436_432),
    ("deit_base_distilled_patch16_224", 87_338_192),
    ("deit_base_patch16_384", 86_859_496),
    ("deit_base_distilled_patch16_384", 87_630_032),
];

#[test]
fn check_prints_the_exact_parameter_count_of_all_eight_paper_recipes() {
    for (name, params) in PAPER {
        let path = format!("recipes/{name}.deit");
        let checked = check(Path::new(&path), &[], &facts());
        let recipe = checked
            .recipe
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: {:?}", checked.diags));
        assert!(checked.ok(), "{name}");
        assert_eq!(Cost::of(&recipe.model).params, params, "{name}");
        let (code, stdout, _) = run(&["check", &path]);
        assert_eq!(code, 0, "{name}");
        let grouped = deitc::cli::thousands(params);
        assert!(
            stdout.contains(&format!("params    {grouped}\n")),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn paper_recipes_carry_the_official_values() {
    let b = check(
        Path::new("recipes/deit_base_patch16_224.deit"),
        &[],
        &facts(),
    )
    .recipe
    .expect("base");
    assert_eq!(b.train.batch, 1024);
    assert!((b.optimizer.lr - 1e-3).abs() < 1e-15, "5e-4 × 1024/512");
    assert_eq!(b.optimizer.weight_decay, 0.05);
    assert_eq!(
        b.augment
            .rand_augment
            .as_ref()
            .map(|r| (r.ops, r.magnitude, r.magnitude_std)),
        Some((2, 9.0, 0.5))
    );
    assert_eq!(
        b.augment.mix.as_ref().map(|m| (m.mixup, m.cutmix)),
        Some((0.8, 1.0))
    );
    assert_eq!(
        b.augment.random_erasing.as_ref().map(|e| e.prob),
        Some(0.25)
    );
    assert_eq!(b.train.ema, Some(0.99996));
    let f = check(
        Path::new("recipes/deit_base_patch16_384.deit"),
        &[],
        &facts(),
    )
    .recipe
    .expect("384");
    assert_eq!(f.train.batch, 512);
    assert!((f.optimizer.lr - 5e-6).abs() < 1e-18);
    assert_eq!(f.optimizer.weight_decay, 1e-8);
    assert_eq!(f.finetune.as_ref().and_then(|f| f.from_image), Some(224));
    let d = check(
        Path::new("recipes/deit_tiny_distilled_patch16_224.deit"),
        &[],
        &facts(),
    )
    .recipe
    .expect("Ti⚗");
    assert_eq!(d.distill.mode, deitc::ir::DistillMode::Hard);
    assert!(d.model.distilled);
}

#[test]
fn every_shipped_recipe_checks() {
    for path in shipped() {
        let checked = check(&path, &[], &facts());
        assert!(
            checked.ok(),
            "{}: {:?}",
            path.display(),
            checked.diags.items
        );
    }
}

#[test]
fn shipped_recipes_are_in_canonical_layout_and_fmt_is_idempotent() {
    for path in shipped() {
        let text = std::fs::read_to_string(&path).expect("read");
        let once = fmt_text(&text);
        assert_eq!(once, text, "{} is not canonical", path.display());
        assert_eq!(fmt_text(&once), once);
    }
    let (code, stdout, _) = run(&["fmt", "--check", "recipes/digits_vit.deit"]);
    assert_eq!((code, stdout.as_str()), (0, ""));
}

fn fmt_text(text: &str) -> String {
    let mut map = SourceMap::new();
    let f = map.add("t", text, SourceKind::Default);
    let ast = parse_recipe(&map, f).expect("parses");
    format(&ast, text)
}

#[test]
fn fmt_canonicalises_a_messy_recipe_and_keeps_every_comment() {
    let messy = "// head comment\n\n\nextends   \"base.deit\"\nmodel{embed=192 // narrow\n  heads   =3\n// before depth\ndepth=12}\n\n\n\noptimizer.lr=5e-4*train.batch/512 // scaled\ndelete   finetune\ndata { train = image_folder( \"x\" ,split=train) // odd\n mean=[ 0.5,0.5 ,0.5 ] }\n// tail\n";
    let once = fmt_text(messy);
    let expected = "// head comment\n\nextends \"base.deit\"\n\nmodel {\n    embed = 192 // narrow\n    heads = 3\n    // before depth\n    depth = 12\n}\n\noptimizer.lr = 5e-4 * train.batch / 512 // scaled\ndelete finetune\n\ndata {\n    train = image_folder(\"x\", split = train) // odd\n    mean = [0.5, 0.5, 0.5]\n}\n// tail\n";
    assert_eq!(once, expected);
    assert_eq!(fmt_text(&once), once);
    for comment in [
        "// head comment",
        "// narrow",
        "// before depth",
        "// scaled",
        "// odd",
        "// tail",
    ] {
        assert!(once.contains(comment), "{comment}");
    }
}

#[test]
fn explain_ron_reads_back_into_the_same_recipe() {
    for path in shipped() {
        let p = path.to_string_lossy().into_owned();
        // A pipeline explains each stage on its own with `--stage`.
        let stages: Vec<Option<String>> = match deitc::check::pipeline::check(&path, &[], &facts())
        {
            Some(pipeline) => pipeline
                .stages
                .iter()
                .map(|s| Some(s.name.clone()))
                .collect(),
            None => vec![None],
        };
        for stage in stages {
            let checked = check_stage(&path, stage.as_deref(), &[], &facts());
            let mut args = vec!["explain", &p];
            if let Some(s) = &stage {
                args.extend(["--stage", s]);
            }
            let (code, stdout, _) = run(&args);
            assert_eq!(code, 0, "{p} {stage:?}");
            let back = Recipe::from_ron(&stdout)
                .unwrap_or_else(|e| panic!("{p} {stage:?}: {e}\n{stdout}"));
            let expected = checked.recipe.map(|r| r.without_stage_recipes());
            assert_eq!(Some(back), expected, "{p} {stage:?}");
        }
    }
}

#[test]
fn explain_annotates_provenance_of_files_overrides_defaults_and_formulas() {
    let (code, stdout, _) = run(&[
        "explain",
        "recipes/deit_tiny_patch16_224.deit",
        "--set",
        "train.batch=256",
    ]);
    assert_eq!(code, 0);
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        line("embed:").trim(),
        "embed: 192, // recipes/deit_tiny_patch16_224.deit:5"
    );
    assert_eq!(
        line("depth:").trim(),
        "depth: 12, // recipes/deit_base_patch16_224.deit:10"
    );
    assert_eq!(line("batch:").trim(), "batch: 256, // <cli:1>");
    assert_eq!(line("momentum:").trim(), "momentum: 0.9, // default");
    assert_eq!(
        line("lr:").trim(),
        "lr: 0.00025, // recipes/deit_base_patch16_224.deit:61: 5e-4 * train.batch / 512"
    );
}

#[test]
fn explain_json_holds_the_recipe_and_every_origin() {
    let (code, stdout, _) = run(&["explain", "recipes/digits_vit.deit", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let recipe: Recipe = serde_json::from_value(v["recipe"].clone()).expect("recipe");
    assert_eq!(recipe.model.embed, 64);
    assert_eq!(v["origins"]["model.embed"], "recipes/digits_vit.deit:8");
    assert_eq!(v["origins"]["optimizer.eps"], "default");
}

#[test]
fn overrides_apply_in_order_and_scale_the_default_lr() {
    let c = check(
        Path::new("recipes/digits_vit.deit"),
        &["optimizer.lr=3e-3".into(), "optimizer.lr=2e-3".into()],
        &facts(),
    );
    assert_eq!(c.recipe.expect("ok").optimizer.lr, 2e-3);
    let c = check(
        Path::new("recipes/deit_tiny_patch16_224.deit"),
        &["train.batch=256".into()],
        &facts(),
    );
    assert!((c.recipe.expect("ok").optimizer.lr - 2.5e-4).abs() < 1e-15);
    let c = check(
        Path::new("recipes/deit_base_patch16_384.deit"),
        &["finetune=none".into()],
        &facts(),
    );
    assert_eq!(c.recipe.expect("ok").finetune, None);
}

#[test]
fn check_reports_dataset_size_and_steps_for_the_bundled_data() {
    let (code, stdout, stderr) = run(&["check", "recipes/digits_vit.deit"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("train 1,437 · val 360 images · 44 steps per epoch"),
        "{stdout}"
    );
    let (code, stdout, _) = run(&[
        "check",
        "recipes/digits_vit.deit",
        "--message-format",
        "json",
    ]);
    assert_eq!(code, 0);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("json");
    assert_eq!(summary["params"], 202_186);
    assert_eq!(summary["steps_per_epoch"], 44);
}

/// What this build compiles in, as the CLI passes it to the checker.
fn facts() -> deitc::check::BuildFacts {
    deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled())
}
