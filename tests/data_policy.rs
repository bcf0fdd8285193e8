//! RandAugment and AutoAugment as timm 0.3.2 samples them (op frequencies, magnitudes,
//! signs, sub-policies), their place in the train transform, `deitc preview`, and
//! `data.skip_unreadable`. The ops themselves are checked pixel for pixel against Pillow in
//! `tests/pil_ops.rs`.

mod common;

use common::temp_dir;
use deitc::data::image_folder;
use deitc::data::pil_ops::PilOp;
use deitc::data::policy::{AugmentOp, OpName, Policy, RAND_INCREASING};
use deitc::data::rng::{Purpose, Stream};
use deitc::data::transform::{Crop, Normalize, TrainTransform};
use deitc::data::{DataError, Loader};
use deitc::ir::{AutoAugment, Interpolation, RandAugment};
use std::collections::HashMap;

fn official_ra() -> RandAugment {
    RandAugment {
        ops: 2,
        magnitude: 9.0,
        magnitude_std: 0.5,
        increasing: true,
        prob: 0.5,
    }
}

/// A 3×12×12 image with some structure, so every op has something to do.
fn image() -> Vec<u8> {
    (0..3 * 144).map(|i| ((i * 37) % 251) as u8).collect()
}

/// `|x − mean| ≤ 5σ` for a count of `n` Bernoulli(p) draws.
fn assert_binomial(count: usize, n: usize, p: f64, what: &str) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - mean).abs() <= 5.0 * sd + 1e-9,
        "{what}: {count} of {n}, expected {mean:.1} ± {sd:.1}"
    );
}

#[test]
fn rand_augment_draws_ops_uniformly_with_replacement_and_applies_each_half_the_time() {
    let policy = Policy::rand(&official_ra());
    let n = 6000;
    let mut applied: HashMap<&'static str, usize> = HashMap::new();
    let mut per_image = [0usize; 3];
    let mut magnitudes = Vec::new();
    for i in 0..n {
        let mut img = image();
        let mut rng = Stream::new(Purpose::Sample, 3, 0, i);
        let ops = policy.apply(&mut img, (3, 12, 12), &[124, 116, 104], &mut rng);
        per_image[ops.len()] += 1;
        for a in &ops {
            *applied.entry(a.op.name()).or_default() += 1;
            magnitudes.push(a.magnitude);
        }
    }
    // Two picks, each applied with p = 0.5: 0, 1, 2 ops with probability ¼, ½, ¼.
    assert_binomial(per_image[0], n as usize, 0.25, "no op");
    assert_binomial(per_image[2], n as usize, 0.25, "two ops");
    // Each of the 15 ops: 2 picks × 1/15 × ½ per image. (Invert is the only op whose name
    // is shared by no other entry; the enhancers and posterize/solarize map to one PilOp
    // name each, so count by name: every name in the list appears once.)
    assert_eq!(applied.len(), 15, "{applied:?}");
    for (name, &count) in &applied {
        assert_binomial(count, 2 * n as usize, 0.5 / 15.0, name);
    }
    // m ~ N(9, 0.5) clipped to [0, 10]: mean ≈ 8.9997, P(m = 10) = P(Z > 2) ≈ 2.28%.
    let k = magnitudes.len() as f64;
    let mean = magnitudes.iter().sum::<f64>() / k;
    let sd = (magnitudes.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / k).sqrt();
    assert!((mean - 9.0).abs() < 0.03, "mean magnitude {mean}");
    assert!((sd - 0.49).abs() < 0.03, "magnitude sd {sd}");
    let at_max = magnitudes.iter().filter(|&&m| m == 10.0).count();
    assert_binomial(at_max, magnitudes.len(), 0.02275, "m clipped at 10");
    assert!(magnitudes.iter().all(|m| (0.0..=10.0).contains(m)));
}

#[test]
fn signed_ops_are_negated_half_the_time() {
    let op = AugmentOp {
        name: OpName::Rotate,
        prob: 1.0,
        magnitude: 9.0,
        magnitude_std: 0.0,
    };
    let n = 4000;
    let mut negative = 0;
    for i in 0..n {
        let mut img = image();
        let mut rng = Stream::new(Purpose::Sample, 5, 0, i);
        match op.apply(&mut img, (3, 12, 12), &[0, 0, 0], &mut rng) {
            Some(a) => match a.op {
                PilOp::Rotate { degrees } => {
                    assert!((degrees.abs() - 27.0).abs() < 1e-12);
                    negative += usize::from(degrees < 0.0);
                }
                other => panic!("{other:?}"),
            },
            None => panic!("prob 1 always applies"),
        }
    }
    assert_binomial(negative, n as usize, 0.5, "negated");
}

#[test]
fn increasing_list_is_timms() {
    let names: Vec<String> = RAND_INCREASING.iter().map(|n| format!("{n:?}")).collect();
    assert_eq!(
        names.join(" "),
        "AutoContrast Equalize Invert Rotate PosterizeIncreasing SolarizeIncreasing \
         SolarizeAdd ColorIncreasing ContrastIncreasing BrightnessIncreasing \
         SharpnessIncreasing ShearX ShearY TranslateXRel TranslateYRel"
    );
}

#[test]
fn auto_augment_applies_sub_policies_with_their_probabilities() {
    // `original`: Equalize appears in sub-policies with these probabilities (per image,
    // one sub-policy of 25): 0.8+0.6, 0.4, 0.4, 0.6, 1.0, 0.6, 0.6, 0.0+0.8, 1.0, 1.0,
    // 0.6, 0.4, 1.0, 0.8+0.6.
    let expected_equalize: f64 = [
        1.4, 0.4, 0.4, 0.6, 1.0, 0.6, 0.6, 0.8, 1.0, 1.0, 0.6, 0.4, 1.0, 1.4,
    ]
    .iter()
    .sum::<f64>()
        / 25.0;
    let policy = Policy::auto(AutoAugment::Original);
    let n = 8000;
    let mut equalize = 0;
    let mut total = 0;
    for i in 0..n {
        let mut img = image();
        let mut rng = Stream::new(Purpose::Sample, 7, 0, i);
        let ops = policy.apply(&mut img, (3, 12, 12), &[124, 116, 104], &mut rng);
        assert!(ops.len() <= 2);
        total += ops.len();
        equalize += ops.iter().filter(|a| a.op == PilOp::Equalize).count();
        // No magnitude noise: every magnitude is one of the policy's integers.
        assert!(ops.iter().all(|a| a.magnitude.fract() == 0.0));
    }
    let rate = equalize as f64 / n as f64;
    assert!(
        (rate - expected_equalize).abs() < 0.03,
        "Equalize per image {rate}, expected {expected_equalize}"
    );
    // Mean applications per image: the sum of all 50 probabilities / 25.
    let mean = total as f64 / n as f64;
    assert!((mean - 1.24).abs() < 0.03, "ops per image {mean}");
}

#[test]
fn v0_policy_has_the_black_image_subpolicy() {
    // `[('Posterize', 0.8, 2), ('Solarize', 0.6, 10)]`: posterize keeps ⌊2/10·4⌋ = 0 bits.
    let mut rng = Stream::new(Purpose::Sample, 0, 0, 0);
    assert_eq!(
        OpName::Posterize.resolve(2.0, (8, 8), &mut rng),
        PilOp::Posterize { bits: 0 }
    );
    let mut img = image();
    PilOp::Posterize { bits: 0 }.apply(&mut img, 3, 12, 12, &[0, 0, 0]);
    assert!(img.iter().all(|&v| v == 0));
}

fn transform_with(policy: Option<Policy>, jitter: bool) -> TrainTransform {
    TrainTransform {
        size: 12,
        crop: Crop::None,
        hflip: 0.0,
        policy,
        color_jitter: jitter
            .then(|| deitc::data::color::ColorJitter::new(0.4))
            .flatten(),
        normalize: Normalize::new(&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225], 3)
            .expect("normalize"),
        erasing: None,
    }
}

#[test]
fn policy_replaces_color_jitter_and_fills_with_the_mean() {
    let n = Normalize::new(&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225], 3).expect("n");
    assert_eq!(n.fill(), &[124, 116, 104]);

    // The recipe asks for both; timm keeps only the policy.
    let mut recipe = common::digits_recipe();
    recipe.augment.rand_augment = Some(official_ra());
    recipe.augment.color_jitter = Some(0.4);
    recipe.augment.crop.interpolation = Interpolation::Bicubic;
    let t = TrainTransform::new(
        &recipe.augment,
        8,
        Normalize::new(&[0.5], &[0.25], 1).expect("n"),
    )
    .expect("transform");
    assert!(t.policy.is_some() && t.color_jitter.is_none());

    // A translate by the whole width brings in only the fill colour.
    let t = transform_with(
        Some(Policy::Rand {
            choices: vec![AugmentOp {
                name: OpName::TranslateXRel,
                prob: 1.0,
                magnitude: 10.0,
                magnitude_std: 0.0,
            }],
            ops: 1,
        }),
        true,
    );
    let img = vec![255u8; 3 * 144];
    let mut rng = Stream::new(Purpose::Sample, 0, 0, 1);
    let (px, drawn) = t.augment_u8(&img, 12, 12, &mut rng);
    assert_eq!(drawn.policy.len(), 1);
    assert!(drawn.jitter.is_none());
    // ±0.45 · 12 = 5.4 px: the 5 columns on the side it moved from are the fill colour.
    let plane = 144;
    let filled = |c: usize, x: usize| (0..12).all(|y| px[c * plane + y * 12 + x] == n.fill()[c]);
    let left = (0..5).all(|x| (0..3).all(|c| filled(c, x)));
    let right = (7..12).all(|x| (0..3).all(|c| filled(c, x)));
    assert!(left ^ right, "one side is filled: {left} {right}");
}

#[test]
fn non_bicubic_interpolation_with_a_policy_is_refused() {
    let mut recipe = common::digits_recipe();
    recipe.augment.rand_augment = Some(official_ra());
    recipe.augment.crop.interpolation = Interpolation::Bilinear;
    let e = TrainTransform::new(
        &recipe.augment,
        8,
        Normalize::new(&[0.5], &[0.25], 1).expect("n"),
    )
    .expect_err("bilinear policy");
    assert!(matches!(e, DataError::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("bicubic"), "{e}");
}

#[test]
fn policy_batches_do_not_depend_on_the_thread_count() {
    let mut recipe = common::digits_recipe();
    recipe.augment.rand_augment = Some(official_ra());
    recipe.augment.crop.interpolation = Interpolation::Bicubic;
    let loader = Loader::new(&recipe).expect("loader");
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let order = loader.order(2);
        pool.install(|| loader.train_batch_drawn(2, 1, &order))
            .expect("batch")
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert!(one.samples.iter().any(|s| !s.policy.is_empty()));
}

// ---- deitc preview --------------------------------------------------------------------

#[test]
fn preview_writes_a_grid_and_lists_what_was_drawn() {
    let dir = temp_dir("preview");
    let png = dir.join("grid.png");
    let png_arg = png.display().to_string();
    let (code, stdout, stderr) = common::run(&[
        "preview",
        "recipes/digits_vit.deit",
        "-n",
        "6",
        "-o",
        &png_arg,
        "--set",
        "augment.rand_augment.ops=2",
        "--set",
        "augment.mix.mixup=0.8",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("6 training samples of epoch 0"), "{stdout}");
    assert!(
        stdout.contains("mixup λ") || stdout.contains("cutmix λ"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().filter(|l| l.starts_with("  #")).count(), 6);
    let img = image::open(&png).expect("png").to_rgb8();
    // 3×2 tiles of 8 px × 12 zoom = 96 px, 6 px gaps, 34 px of caption.
    assert_eq!(img.dimensions(), (6 + 3 * 102, 6 + 2 * (96 + 34 + 6)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn preview_reports_an_unwritable_output() {
    let dir = temp_dir("preview-bad");
    std::fs::write(dir.join("file"), b"x").expect("write");
    let target = dir.join("file/grid.png").display().to_string();
    let (code, _, stderr) = common::run(&["preview", "recipes/digits_vit.deit", "-o", &target]);
    assert_eq!(code, 1);
    assert!(stderr.contains("deit::io::write"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- unreadable images ------------------------------------------------------------------

#[test]
fn unreadable_images_stop_the_load_or_are_skipped_and_counted() {
    let root = temp_dir("skip");
    for (class, name) in [("a", "1.png"), ("a", "2.png"), ("b", "1.png")] {
        std::fs::create_dir_all(root.join(class)).expect("mkdir");
        image::GrayImage::from_pixel(4, 4, image::Luma([9]))
            .save(root.join(class).join(name))
            .expect("png");
    }
    std::fs::write(root.join("a/3.png"), b"\x89PNG truncated").expect("write");
    let fit = deitc::data::source::Fit::Square(4);

    let e = image_folder::load_fit(&root, 1, fit, false).expect_err("corrupt");
    assert!(matches!(e, DataError::Decode { .. }), "{e}");
    assert!(e.to_string().contains("3.png"), "{e}");

    // Skipped, the file keeps its place (as a streamed split's file does) and answers with
    // its error; the loader passes over it.
    let d = image_folder::load_fit(&root, 1, fit, true).expect("skipping");
    assert_eq!(d.labels, vec![0, 0, 0, 1]);
    assert_eq!(d.skipped.len(), 1);
    assert!(d.skipped[0].0.ends_with("a/3.png"));
    assert_eq!(d.holes.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert!(d.skips_unreadable());
    assert!(matches!(d.pixels(2), Err(DataError::Decode { .. })));
    assert!(d.pixels(3).is_ok());

    // A class left with nothing readable is still an error.
    std::fs::remove_file(root.join("b/1.png")).expect("rm");
    std::fs::write(root.join("b/1.png"), b"garbage").expect("write");
    let e = image_folder::load_fit(&root, 1, fit, true).expect_err("empty after skipping");
    assert!(matches!(e, DataError::EmptyClass { .. }), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}
