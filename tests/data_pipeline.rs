//! The data pipeline: the bundled digits, ImageFolder loading, the per-sample transforms,
//! mixup/cutmix, the random streams and the loader's determinism.

mod common;

use common::{digits_recipe, temp_dir};

use deitc::data::erasing::Erasing;
use deitc::data::image_folder;
use deitc::data::mix::{mixed_targets, Mixer};
use deitc::data::rng::{Purpose, Stream};
use deitc::data::source;
use deitc::data::transform::{Crop, Normalize, TrainTransform};
use deitc::data::{Batch, DataError, Dataset, Loader};
use deitc::ir::{EraseMode, Mix, RandomErasing, Range, Recipe, Source, Split};
use std::path::Path;
use std::time::Instant;

/// Per-class counts of the npz split (printed by data/digits/convert.py).
const DIGITS_TRAIN_HIST: [usize; 10] = [142, 146, 142, 146, 145, 145, 145, 143, 139, 144];
const DIGITS_VAL_HIST: [usize; 10] = [36, 36, 35, 37, 36, 37, 36, 36, 35, 36];

/// The digits recipe with every random step on: flip, erasing, mixup and cutmix.
fn all_random_recipe() -> Recipe {
    let mut r = digits_recipe();
    r.augment.hflip = 0.5;
    r.augment.random_erasing = Some(erasing(0.25, EraseMode::Pixel));
    r.augment.mix = Some(Mix {
        mixup: 0.8,
        cutmix: 1.0,
        prob: 1.0,
        switch_prob: 0.5,
    });
    r
}

fn erasing(prob: f64, mode: EraseMode) -> RandomErasing {
    RandomErasing {
        prob,
        mode,
        count: 1,
        area: Range {
            lo: 0.02,
            hi: 1.0 / 3.0,
        },
        aspect: Range {
            lo: 0.3,
            hi: 1.0 / 0.3,
        },
    }
}

fn close(a: f32, b: f64, tol: f64) -> bool {
    (f64::from(a) - b).abs() <= tol
}

// ---------------------------------------------------------------------------------------
// The bundled digits

#[test]
fn digits_splits_have_the_npz_sizes_and_histograms() {
    let t0 = Instant::now();
    let train = source::open(
        &Source::Digits {
            split: Split::Train,
        },
        1,
        8,
    )
    .expect("digits train");
    let load = t0.elapsed();
    let val = source::open(&Source::Digits { split: Split::Val }, 1, 8).expect("digits val");
    eprintln!("digits train split (1,437 PNGs) loaded in {load:?}");
    assert_eq!((train.len(), val.len()), (1437, 360));
    let names: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(train.classes, names);
    assert_eq!(val.classes, names);
    assert_eq!((train.channels, train.height, train.width), (1, 8, 8));
    assert_eq!(train.images.len(), 1437 * 64);
    assert_eq!(train.histogram(), DIGITS_TRAIN_HIST);
    assert_eq!(val.histogram(), DIGITS_VAL_HIST);
    // The pixel statistics the recipe normalises with (data/digits/README.md).
    let n = train.images.len() as f64;
    let mean = train
        .images
        .iter()
        .map(|&v| f64::from(v) / 255.0)
        .sum::<f64>()
        / n;
    let var = train
        .images
        .iter()
        .map(|&v| (f64::from(v) / 255.0 - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!((mean - 0.3054).abs() < 5e-5, "{mean}");
    assert!((var.sqrt() - 0.3760).abs() < 5e-5, "{}", var.sqrt());
    // Pixel values are the npz's round(v·255/16) levels.
    assert!(train
        .images
        .iter()
        .all(|&v| (0..=16).any(|l| (f64::from(l) * 255.0 / 16.0).round() as u8 == v)));
}

#[test]
fn digits_load_as_rgb_and_resized() {
    let rgb = source::open(&Source::Digits { split: Split::Val }, 3, 8).expect("digits rgb");
    let gray = source::open(&Source::Digits { split: Split::Val }, 1, 8).expect("digits");
    assert_eq!(rgb.image_len(), 3 * 64);
    for i in [0, 100, 359] {
        let (g, c) = (gray.image(i), rgb.image(i));
        assert_eq!(&c[..64], g);
        assert_eq!(&c[64..128], g);
        assert_eq!(&c[128..], g);
    }
    let big = source::open(&Source::Digits { split: Split::Val }, 1, 16).expect("digits 16");
    assert_eq!((big.height, big.width, big.len()), (16, 16, 360));
    assert_eq!(big.labels, gray.labels);
}

// ---------------------------------------------------------------------------------------
// ImageFolder

fn write_png(path: &Path, img: image::DynamicImage) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    img.save(path).expect("save png");
}

#[test]
fn image_folder_sorts_classes_and_files_and_converts_channels() {
    let root = temp_dir("folder");
    let rgb = image::RgbImage::from_fn(2, 2, |x, y| image::Rgb([200, 100, (50 * (x + y)) as u8]));
    write_png(&root.join("b/2.PNG"), rgb.clone().into());
    write_png(&root.join("b/1.png"), rgb.into());
    let gray = image::GrayImage::from_fn(2, 2, |x, y| image::Luma([(10 * (x + 2 * y)) as u8]));
    write_png(&root.join("a/z.png"), gray.into());
    std::fs::write(root.join("a/notes.txt"), "ignored").expect("write");

    let d = image_folder::load(&root, 1, 2).expect("load gray");
    assert_eq!(d.classes, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(d.labels, vec![0, 1, 1]);
    assert_eq!(d.image(0), &[0, 10, 20, 30]);
    // PIL's convert("L"): (19595 R + 38470 G + 7471 B + 2^15) >> 16.
    let l = |b: u32| ((19595 * 200 + 38470 * 100 + 7471 * b + 0x8000) >> 16) as u8;
    assert_eq!(d.image(1), &[l(0), l(50), l(50), l(100)]);

    let c = image_folder::load(&root, 3, 2).expect("load rgb");
    assert_eq!(c.image(0), &[0, 10, 20, 30, 0, 10, 20, 30, 0, 10, 20, 30]);
    assert_eq!(
        c.image(1),
        &[200, 200, 200, 200, 100, 100, 100, 100, 0, 50, 50, 100]
    );

    let r = image_folder::load(&root, 3, 5).expect("load resized");
    assert_eq!((r.height, r.width, r.images.len()), (5, 5, 3 * 75));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn image_folder_errors_name_the_path() {
    let root = temp_dir("errors");
    let missing = root.join("nope");
    let e = image_folder::load(&missing, 1, 8).expect_err("missing");
    assert!(matches!(e, DataError::MissingFolder { .. }));
    assert!(e.to_string().contains("nope"), "{e}");

    let e = image_folder::load(&root, 1, 8).expect_err("no classes");
    assert!(matches!(e, DataError::NoClasses { .. }), "{e}");

    std::fs::create_dir_all(root.join("cat")).expect("mkdir");
    std::fs::write(root.join("cat/readme.md"), "x").expect("write");
    let e = image_folder::load(&root, 1, 8).expect_err("empty class");
    assert!(matches!(e, DataError::EmptyClass { .. }), "{e}");
    assert!(e.to_string().contains("cat"), "{e}");

    std::fs::write(root.join("cat/broken.jpg"), b"not a jpeg").expect("write");
    let e = image_folder::load(&root, 1, 8).expect_err("undecodable");
    assert!(matches!(e, DataError::Decode { .. }), "{e}");
    assert!(e.to_string().contains("broken.jpg"), "{e}");

    let e = image_folder::load(&root, 2, 8).expect_err("two channels");
    assert!(e.to_string().contains("model.channels"), "{e}");
    let _ = std::fs::remove_dir_all(&root);

    let e = source::open(
        &Source::Cifar10 {
            path: "data/cifar".into(),
            split: Split::Train,
        },
        3,
        32,
    )
    .expect_err("cifar");
    assert!(matches!(e, DataError::MissingFolder { .. }), "{e}");
    assert!(e.to_string().contains("data/cifar"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Transforms

fn square(size: usize) -> Vec<u8> {
    (0..size * size).map(|v| (v + 1) as u8).collect()
}

#[test]
fn random_crop_and_flip_pick_a_padded_window() {
    let (size, pad) = (8, 2);
    let normalize = Normalize::new(&[0.0], &[1.0], 1).expect("normalize");
    let img = square(size);
    let mut offsets = std::collections::BTreeSet::new();
    let mut flips = 0;
    for hflip in [0.0, 0.5, 1.0] {
        let t = TrainTransform {
            size,
            crop: Crop::Random { padding: pad },
            hflip,
            policy: None,
            color_jitter: None,
            normalize: normalize.clone(),
            erasing: None,
        };
        for i in 0..400 {
            let mut rng = Stream::new(Purpose::Sample, 9, 0, i);
            let mut out = vec![f32::NAN; size * size];
            let d = t.apply(&img, size, size, &mut rng, &mut out);
            assert!(d.offset.0 <= 2 * pad && d.offset.1 <= 2 * pad);
            offsets.insert(d.offset);
            match hflip {
                0.0 => assert!(!d.flipped),
                1.0 => assert!(d.flipped),
                _ => flips += usize::from(d.flipped),
            }
            for y in 0..size {
                for x in 0..size {
                    let xs = if d.flipped { size - 1 - x } else { x };
                    let sy = (y + d.offset.0) as isize - pad as isize;
                    let sx = (xs + d.offset.1) as isize - pad as isize;
                    let inside =
                        (0..size as isize).contains(&sy) && (0..size as isize).contains(&sx);
                    let want = if inside {
                        f32::from(img[sy as usize * size + sx as usize]) / 255.0
                    } else {
                        0.0 // zero padding, before normalisation
                    };
                    assert_eq!(out[y * size + x], want, "({y},{x}) {d:?}");
                }
            }
        }
    }
    assert_eq!(
        offsets.len(),
        (2 * pad + 1) * (2 * pad + 1),
        "every offset drawn"
    );
    assert!(
        (160..240).contains(&flips),
        "{flips} flips of 400 at p = 0.5"
    );
}

#[test]
fn normalize_matches_hand_values() {
    let n = Normalize::new(&[0.3054], &[0.3760], 1).expect("normalize");
    assert!(close(n.value(0, 0), -0.812_234_042_553_191_5, 1e-6));
    assert!(close(n.value(0, 255), 1.847_340_425_531_914_8, 1e-6));
    assert!(close(n.value(0, 128), 0.522_768_043_387_567_8, 1e-6));
    let imnet = Normalize::new(&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225], 3)
        .expect("imagenet normalize");
    assert!(close(imnet.value(0, 124), 0.005_565_544_995_290_721, 1e-6));
    assert!(close(imnet.value(1, 0), -2.035_714_285_714_285_6, 1e-6));
    assert!(close(imnet.value(2, 255), 2.64, 1e-6));
    let mut out = vec![0.0; 3];
    imnet.apply(&[124, 0, 255], &mut out);
    assert_eq!(
        out,
        vec![imnet.value(0, 124), imnet.value(1, 0), imnet.value(2, 255)]
    );
}

#[test]
fn random_erasing_p0_is_identity_and_p1_erases_one_box_in_bounds() {
    let (h, w) = (32, 32);
    let input = vec![1.0f32; 3 * h * w];
    let off = Erasing::new(&erasing(0.0, EraseMode::Pixel));
    for i in 0..200 {
        let mut img = input.clone();
        let boxes = off.apply(
            &mut img,
            3,
            h,
            w,
            &mut Stream::new(Purpose::Sample, 1, 0, i),
        );
        assert!(boxes.is_empty());
        assert_eq!(img, input);
    }
    let on = Erasing::new(&erasing(1.0, EraseMode::Const));
    let area = (h * w) as f64;
    let mut erased = 0;
    for i in 0..200 {
        let mut img = input.clone();
        let boxes = on.apply(
            &mut img,
            3,
            h,
            w,
            &mut Stream::new(Purpose::Sample, 1, 0, i),
        );
        assert!(boxes.len() <= 1);
        let Some(b) = boxes.first() else { continue };
        erased += 1;
        assert!(b.height < h && b.width < w && b.top + b.height <= h && b.left + b.width <= w);
        // h = round(√(t·a)), w = round(√(t/a)) with t ∈ [0.02, 1/3]·H·W: |h·w − t| ≤ (h+w)/2 + 1/4.
        let got = (b.height * b.width) as f64;
        let slack = (b.height + b.width) as f64 / 2.0 + 0.25;
        assert!(
            got >= 0.02 * area - slack && got <= area / 3.0 + slack,
            "{b:?}"
        );
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    let inside = (b.top..b.top + b.height).contains(&y)
                        && (b.left..b.left + b.width).contains(&x);
                    let want = if inside { 0.0 } else { 1.0 };
                    assert_eq!(img[(c * h + y) * w + x], want);
                }
            }
        }
    }
    assert!(erased >= 190, "only {erased}/200 erased at p = 1");

    // `rand` mode: one colour per channel inside the box.
    let rand = Erasing::new(&erasing(1.0, EraseMode::Rand));
    let mut img = input.clone();
    let boxes = rand.apply(
        &mut img,
        3,
        h,
        w,
        &mut Stream::new(Purpose::Sample, 2, 0, 0),
    );
    let b = boxes.first().expect("a box");
    if b.height * b.width > 0 {
        for c in 0..3 {
            let at = |y: usize, x: usize| img[(c * h + y) * w + x];
            let v = at(b.top, b.left);
            assert_eq!(at(b.top + b.height - 1, b.left + b.width - 1), v);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Mixup / CutMix

#[test]
fn erased_boxes_follow_the_area_and_log_aspect_distributions() {
    // timm's draws on a 200×200 image: area ~ U(0.02, 1/3) of the image, ln(aspect) ~
    // U(ln 0.3, ln 1/0.3), sides rounded, boxes that do not fit redrawn. Simulating that
    // algorithm (2·10⁵ draws) gives an area fraction of mean 0.1759, sd 0.0901 and a
    // ln(h/w) of mean 0, sd 0.692.
    let e = Erasing::new(&erasing(1.0, EraseMode::Const));
    let (n, side) = (4000, 200);
    let mut img = vec![0f32; side * side];
    let (mut areas, mut logs) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut rng = Stream::new(Purpose::Sample, 11, 0, i);
        let boxes = e.apply(&mut img, 1, side, side, &mut rng);
        assert_eq!(boxes.len(), 1);
        let b = boxes[0];
        assert!(b.top + b.height <= side && b.left + b.width <= side);
        areas.push((b.height * b.width) as f64 / (side * side) as f64);
        logs.push((b.height as f64 / b.width as f64).ln());
    }
    let stats = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        (m, sd)
    };
    let (am, asd) = stats(&areas);
    let (lm, lsd) = stats(&logs);
    assert!((am - 0.1759).abs() < 0.006, "area mean {am}");
    assert!((asd - 0.0901).abs() < 0.006, "area sd {asd}");
    assert!(lm.abs() < 0.05, "log-aspect mean {lm}");
    assert!((lsd - 0.692).abs() < 0.03, "log-aspect sd {lsd}");
    assert!(areas.iter().all(|&a| (0.019..=0.34).contains(&a)));
}

fn batch_of(b: usize, per: usize, seed: u64) -> Vec<f32> {
    let mut rng = Stream::new(Purpose::Synthetic, seed, 0, 0);
    (0..b * per).map(|_| rng.normal() as f32).collect()
}

#[test]
fn mixup_blends_with_the_reversed_batch_and_targets_follow() {
    let (b, c, h, w, k) = (8, 2, 4, 4, 5);
    let per = c * h * w;
    let labels: Vec<u16> = vec![0, 1, 2, 3, 4, 0, 1, 1];
    let m = Mixer::new(
        &Mix {
            mixup: 0.8,
            cutmix: 0.0,
            prob: 1.0,
            switch_prob: 0.5,
        },
        0.1,
        k,
    )
    .expect("mixup on");
    for seed in 0..20 {
        let x = batch_of(b, per, seed);
        let mut mixed = x.clone();
        let out = m
            .apply(
                &mut mixed,
                &labels,
                (c, h, w),
                &mut Stream::new(Purpose::Batch, seed, 0, 0),
            )
            .expect("mix");
        let lam = out.lam;
        assert!((0.0..=1.0).contains(&lam) && out.cutmix.is_none());
        for i in 0..b {
            let j = b - 1 - i;
            for p in 0..per {
                let want =
                    lam * f64::from(x[i * per + p]) + (1.0 - lam) * f64::from(x[j * per + p]);
                assert!(close(mixed[i * per + p], want, 1e-5));
            }
            let (off, on) = (0.1 / k as f64, 1.0 - 0.1 + 0.1 / k as f64);
            let row = &out.targets[i * k..(i + 1) * k];
            assert!((row.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-6);
            for (cls, &v) in row.iter().enumerate() {
                let a = if cls == labels[i] as usize { on } else { off };
                let f = if cls == labels[j] as usize { on } else { off };
                assert!(close(v, lam * a + (1.0 - lam) * f, 1e-6), "{v}");
            }
        }
    }
    let e = m
        .apply(
            &mut vec![0.0; 3 * per],
            &[0, 1, 2],
            (c, h, w),
            &mut Stream::new(Purpose::Batch, 0, 0, 0),
        )
        .expect_err("odd batch");
    assert!(matches!(e, DataError::OddBatch { batch: 3 }), "{e}");
}

#[test]
fn cutmix_lambda_equals_the_unpasted_area() {
    let (b, c, h, w, k) = (6, 3, 8, 8, 6);
    let per = c * h * w;
    let labels: Vec<u16> = (0..b as u16).collect();
    let m = Mixer::new(
        &Mix {
            mixup: 0.0,
            cutmix: 1.0,
            prob: 1.0,
            switch_prob: 0.5,
        },
        0.0,
        k,
    )
    .expect("cutmix on");
    let mut boxes = 0;
    for seed in 0..50 {
        // Image i is the constant i + 1, so pasted pixels show their origin.
        let x: Vec<f32> = (0..b * per).map(|p| (p / per + 1) as f32).collect();
        let mut mixed = x.clone();
        let out = m
            .apply(
                &mut mixed,
                &labels,
                (c, h, w),
                &mut Stream::new(Purpose::Batch, seed, 0, 0),
            )
            .expect("mix");
        let bx = out.cutmix.expect("cutmix at prob 1");
        let boxed = ((bx.y1 - bx.y0) * (bx.x1 - bx.x0)) as f64;
        boxes += usize::from(boxed > 0.0);
        assert!((out.lam - (1.0 - boxed / (h * w) as f64)).abs() < 1e-12);
        for i in 0..b {
            let partner = (b - i) as f32; // value of image B−1−i
            let pasted = mixed[i * per..(i + 1) * per]
                .iter()
                .filter(|&&v| v == partner)
                .count();
            assert_eq!(
                pasted as f64 / per as f64,
                1.0 - out.lam,
                "seed {seed} image {i}"
            );
        }
        assert_eq!(out.targets, mixed_targets(&labels, k, 0.0, out.lam));
    }
    assert!(boxes > 30, "only {boxes} non-empty boxes");
}

#[test]
fn beta_sampler_has_the_right_moments() {
    let mut rng = Stream::new(Purpose::Batch, 42, 0, 0);
    let n = 20_000;
    let a = 0.8;
    let xs: Vec<f64> = (0..n).map(|_| rng.beta(a, a)).collect();
    assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    // Beta(α, α): mean 1/2, variance 1 / (4(2α + 1)) = 0.0962 at α = 0.8; σ/√n ≈ 0.0022.
    assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    assert!(
        (var - 1.0 / (4.0 * (2.0 * a + 1.0))).abs() < 0.005,
        "var {var}"
    );
}

// ---------------------------------------------------------------------------------------
// The loader

fn batches(loader: &Loader, epoch: u64, n: usize) -> Vec<Batch> {
    loader
        .epoch(epoch)
        .take(n)
        .collect::<Result<_, _>>()
        .expect("batches")
}

#[test]
fn loader_is_deterministic_and_thread_count_independent() {
    let loader = Loader::new(&all_random_recipe()).expect("loader");
    assert_eq!(loader.steps_per_epoch(), 1437 / 64);
    let a = batches(&loader, 0, 4);
    assert_eq!(a, batches(&loader, 0, 4), "same seed and epoch");
    let other = batches(&loader, 1, 4);
    assert_ne!(a[0].labels, other[0].labels, "another epoch, another order");
    assert_ne!(loader.order(0), loader.order(1));
    let mut sorted = loader.order(3);
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1437).collect::<Vec<_>>());

    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| batches(&loader, 2, 6))
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one, two, "1 vs 2 threads");
    for b in &one {
        assert_eq!(
            (b.size, b.images.len(), b.targets.len()),
            (64, 64 * 64, 64 * 10)
        );
        assert!(b.images.iter().all(|v| v.is_finite()));
        for row in b.targets.chunks(10) {
            assert!((row.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-5);
        }
    }
    assert!(one.iter().any(|b| b.lam < 1.0), "mixing happened");

    let mut seeded = all_random_recipe();
    seeded.train.seed = 1;
    let other_seed = Loader::new(&seeded).expect("loader");
    assert_ne!(other_seed.order(0), loader.order(0));
}

#[test]
fn loader_without_mix_uses_smoothed_one_hot_and_eval_keeps_order() {
    let loader = Loader::new(&digits_recipe()).expect("loader");
    let b = loader.epoch(0).next().expect("a batch").expect("a batch");
    for (i, row) in b.targets.chunks(10).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            let want = if k == b.labels[i] as usize {
                0.91
            } else {
                0.01
            };
            assert!(close(v, want, 1e-6));
        }
    }
    assert_eq!(loader.epoch(0).count(), 22);

    let eval: Vec<Batch> = loader.eval().collect::<Result<_, _>>().expect("eval");
    assert_eq!(eval.len(), 6);
    assert_eq!(
        eval.iter().map(|b| b.size).collect::<Vec<_>>(),
        [64, 64, 64, 64, 64, 40]
    );
    let labels: Vec<u16> = eval.iter().flat_map(|b| b.labels.clone()).collect();
    assert_eq!(labels, loader.val.labels);
    let n = Normalize::new(&[0.3054], &[0.3760], 1).expect("normalize");
    let last = eval.last().expect("last batch");
    assert_eq!(last.images[..64].to_vec(), {
        let mut v = vec![0.0; 64];
        n.apply(loader.val.image(320), &mut v);
        v
    });
    for (i, row) in last.targets.chunks(10).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            assert_eq!(v, f32::from(u8::from(k == last.labels[i] as usize)));
        }
    }
}

#[test]
fn loader_refuses_what_it_cannot_do() {
    let mut r = all_random_recipe();
    r.train.batch = 63;
    let e = Loader::new(&r).expect_err("odd batch");
    assert!(matches!(e, DataError::OddBatch { batch: 63 }), "{e}");

    let mut r = digits_recipe();
    r.augment.rand_augment = Some(deitc::ir::RandAugment {
        ops: 2,
        magnitude: 9.0,
        magnitude_std: 0.5,
        increasing: true,
        prob: 0.5,
    });
    Loader::new(&r).expect("RandAugment with bicubic resampling");
    r.augment.crop.interpolation = deitc::ir::Interpolation::Bilinear;
    let e = Loader::new(&r).expect_err("RandAugment with bilinear resampling");
    assert!(matches!(e, DataError::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("augment.crop.interpolation"), "{e}");

    // Repeated augmentation keeps 1437 // 256 · 256 = 1280 samples per epoch.
    let mut r = digits_recipe();
    r.augment.repeated = 3;
    r.train.batch = 1300;
    let e = Loader::new(&r).expect_err("epoch smaller than the batch");
    assert!(e.to_string().contains("1280 samples"), "{e}");

    let mut r = digits_recipe();
    r.model.classes = 5;
    let e = Loader::new(&r).expect_err("too few classes");
    assert!(matches!(e, DataError::LabelOutOfRange { .. }), "{e}");

    let mut r = digits_recipe();
    r.train.batch = 2000;
    let e = Loader::new(&r).expect_err("batch too large");
    assert!(e.to_string().contains("train.batch"), "{e}");
}

#[test]
fn synthetic_source_feeds_the_loader() {
    let mut r = digits_recipe();
    r.model.channels = 3;
    r.model.image = 16;
    r.data.mean = vec![0.5; 3];
    r.data.std = vec![0.25; 3];
    r.data.train = Source::Synthetic {
        samples: 200,
        classes: 10,
        seed: 1,
    };
    r.data.val = Source::Synthetic {
        samples: 50,
        classes: 10,
        seed: 2,
    };
    r.train.batch = 32;
    let loader = Loader::new(&r).expect("synthetic loader");
    assert_eq!(loader.image_shape(), (3, 16, 16));
    let b = loader.epoch(0).next().expect("a batch").expect("a batch");
    assert_eq!(b.images.len(), 32 * 3 * 256);
    assert_eq!(
        loader.eval().map(|b| b.expect("eval").size).sum::<usize>(),
        50
    );
    let d: &Dataset = &loader.train;
    assert_eq!(d.histogram(), vec![20; 10]);
}

/// Throughput of the train batches (crop + flip + normalise + erasing p = 0.25, no mixing)
/// on one thread, for the digits (1×8×8) and for CIFAR-sized synthetic images (3×32×32).
/// `cargo test --release --test data_pipeline -- --ignored --nocapture train_transform_throughput`
#[test]
#[ignore = "timing, run by hand"]
fn train_transform_throughput() {
    let mut digits = all_random_recipe();
    digits.augment.mix = None;
    let mut cifar = digits.clone();
    cifar.model.channels = 3;
    cifar.model.image = 32;
    cifar.augment.crop.padding = 4;
    cifar.data.mean = vec![0.5; 3];
    cifar.data.std = vec![0.25; 3];
    cifar.data.train = Source::Synthetic {
        samples: 5000,
        classes: 10,
        seed: 0,
    };
    cifar.data.val = cifar.data.train.clone();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    for (name, r, epochs) in [
        ("1×8×8 digits", digits, 20),
        ("3×32×32 synthetic", cifar, 4),
    ] {
        let loader = Loader::new(&r).expect("loader");
        let t0 = Instant::now();
        let images: usize = pool.install(|| {
            (0..epochs)
                .map(|e| {
                    loader
                        .epoch(e)
                        .map(|b| b.expect("batch").size)
                        .sum::<usize>()
                })
                .sum()
        });
        let s = t0.elapsed().as_secs_f64();
        eprintln!(
            "train batches, 1 thread, {name}: {images} images in {s:.3} s = {:.0} images/s",
            images as f64 / s
        );
    }
}
