//! `data.preload`: image folders streamed from disk give exactly the batches of preloaded
//! ones, `auto` preloads small splits, and unreadable streamed files stop the run (saving
//! it) or are passed over with `data.skip_unreadable`.

mod common;

use common::temp_dir;
use deitc::check::check;
use deitc::data::loader::residency;
use deitc::data::source::Fit;
use deitc::data::stream::{decoded_bytes, PRELOAD_LIMIT};
use deitc::data::{Batch, DataError, Loader};
use deitc::ir::{CropKind, Preload, Recipe, Source};
use deitc::train::run::{run, Progress, RunOptions};
use std::path::{Path, PathBuf};

/// An RGB image folder of 4 classes × 6 images of varied sizes (PNG and JPEG).
fn folder(tag: &str) -> PathBuf {
    folder_of(tag, 4, 6)
}

fn folder_of(tag: &str, classes: u32, per_class: u32) -> PathBuf {
    let root = temp_dir(tag);
    for c in 0..classes {
        let dir = root.join(format!("class{c}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for i in 0..per_class {
            let (w, h) = (20 + 3 * i + c, 18 + 2 * c + i);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 11 + c * 40) as u8, (y * 13) as u8, ((x + y) * i) as u8])
            });
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            img.save(dir.join(format!("{i}.{ext}"))).expect("save");
        }
    }
    root
}

/// The digits recipe pointed at `root` for both splits, 3×16×16 inputs, every train
/// augmentation that reads the image on.
fn recipe(root: &Path, crop: CropKind, preload: Preload) -> Recipe {
    let mut r = common::digits_recipe();
    r.data.train = Source::ImageFolder {
        path: root.display().to_string(),
    };
    r.data.val = r.data.train.clone();
    r.model.image = 16;
    r.model.channels = 3;
    r.model.classes = 4;
    r.data.mean = vec![0.5, 0.4, 0.3];
    r.data.std = vec![0.2, 0.25, 0.3];
    r.train.batch = 8;
    r.augment.crop.kind = crop;
    r.augment.crop.padding = 2;
    r.augment.hflip = 0.5;
    r.data.preload = preload;
    r
}

fn epoch(loader: &Loader, e: u64) -> Vec<Batch> {
    loader.epoch(e).collect::<Result<_, _>>().expect("batches")
}

fn eval(loader: &Loader) -> Vec<Batch> {
    loader.eval().collect::<Result<_, _>>().expect("eval")
}

#[test]
fn streamed_folders_give_the_batches_of_preloaded_ones() {
    let root = folder("stream-same");
    for crop in [CropKind::RandomResized, CropKind::Random, CropKind::None] {
        let pre = Loader::new(&recipe(&root, crop, Preload::Always)).expect("preloaded");
        let st = Loader::new(&recipe(&root, crop, Preload::Never)).expect("streamed");
        assert!(!pre.train.is_streamed() && !pre.val.is_streamed());
        assert!(st.train.is_streamed() && st.val.is_streamed());
        assert!(st.train.images.is_empty(), "nothing decoded up front");
        assert_eq!(st.steps_per_epoch(), pre.steps_per_epoch());
        for e in 0..2 {
            assert_eq!(epoch(&st, e), epoch(&pre, e), "{crop:?} epoch {e}");
        }
        assert_eq!(eval(&st), eval(&pre), "{crop:?} eval");
        assert!(st.unreadable().is_empty());
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn auto_preloads_what_fits_and_estimates_sizes_from_headers() {
    let root = folder("stream-auto");
    let loader =
        Loader::new(&recipe(&root, CropKind::RandomResized, Preload::Auto)).expect("loader");
    assert!(!loader.train.is_streamed() && !loader.val.is_streamed());

    let files: Vec<PathBuf> = deitc::data::image_folder::list(&root)
        .expect("list")
        .files
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        decoded_bytes(&files, 3, Fit::Square(224)),
        24 * 3 * 224 * 224
    );
    let exact: u64 = files
        .iter()
        .map(|p| image::image_dimensions(p).expect("header"))
        .map(|(w, h)| 3 * u64::from(w) * u64::from(h))
        .sum();
    // 24 files: the header sample is every file, so the estimate is exact up to rounding.
    let est = decoded_bytes(&files, 3, Fit::Native);
    assert!(est.abs_diff(exact) <= 3 * 24, "{est} vs {exact}");
    // What `deitc check` reports, before anything is decoded.
    for (preload, streamed) in [(Preload::Always, false), (Preload::Never, true)] {
        let r = recipe(&root, CropKind::RandomResized, preload);
        let held = residency(&r);
        assert_eq!(held.len(), 2);
        assert_eq!(held[0].0, "train");
        assert!(held.iter().all(|(_, h)| h.streamed == streamed));
        assert_eq!(held[0].1.bytes, est);
        assert_eq!(
            held[1].1.bytes,
            24 * 3 * 16 * 16,
            "val: eval-cropped at 16 px"
        );
    }
    // ImageNet's train split at 224² would not be preloaded.
    let many = vec![files[0].clone(); 1_281_167];
    assert!(decoded_bytes(&many, 3, Fit::Square(224)) > PRELOAD_LIMIT);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn with_skip_unreadable_preloading_does_not_change_the_batches() {
    // A corrupt file in each split: preloaded or streamed, the same steps, the same
    // batches (the file passed over in place), the same evaluation.
    let root = folder("stream-skip-same");
    std::fs::write(root.join("class1/3.jpg"), b"\xff\xd8 not a jpeg").expect("corrupt");
    for crop in [CropKind::RandomResized, CropKind::None] {
        let loader = |preload| {
            let mut r = recipe(&root, crop, preload);
            r.data.skip_unreadable = true;
            Loader::new(&r).expect("loader")
        };
        let (pre, st) = (loader(Preload::Always), loader(Preload::Never));
        assert!(!pre.train.is_streamed() && st.train.is_streamed());
        assert_eq!(
            pre.train.len(),
            st.train.len(),
            "{crop:?}: the listing's samples"
        );
        assert_eq!(pre.steps_per_epoch(), st.steps_per_epoch(), "{crop:?}");
        for e in 0..2 {
            assert_eq!(epoch(&st, e), epoch(&pre, e), "{crop:?} epoch {e}");
        }
        assert_eq!(eval(&st), eval(&pre), "{crop:?} eval");
        assert_eq!(pre.unreadable().len(), 2, "listed once per split");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_unreadable_streamed_file_is_an_error_or_is_passed_over() {
    let root = folder("stream-bad");
    let bad = root.join("class1/3.jpg");
    std::fs::write(&bad, b"\xff\xd8 not a jpeg").expect("corrupt");

    let strict = Loader::new(&recipe(&root, CropKind::RandomResized, Preload::Never))
        .expect("listing succeeds: files are read when needed");
    let err = strict
        .epoch(0)
        .find_map(Result::err)
        .expect("some batch needs the corrupt file");
    assert!(matches!(err, DataError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("3.jpg"), "{err}");
    assert!(strict.unreadable().is_empty(), "not recorded without skip");

    let mut r = recipe(&root, CropKind::RandomResized, Preload::Never);
    r.data.skip_unreadable = true;
    let loader = Loader::new(&r).expect("loader");
    let bad_index = 6 + 3;
    for e in 0..2 {
        let order = loader.order(e);
        for step in 0..loader.steps_per_epoch() {
            let d = loader
                .train_batch_drawn(e, step, &order)
                .expect("the corrupt file is passed over");
            assert_eq!(d.batch.size, 8);
            assert!(!d.indices.contains(&bad_index));
            if order[step * 8..(step + 1) * 8].contains(&bad_index) {
                // Replaced by the next file, with that file's label.
                assert!(d.indices.contains(&(bad_index + 1)));
            }
        }
    }
    let val: usize = eval(&loader).iter().map(|b| b.size).sum();
    assert_eq!(val, 23, "left out of the evaluation");
    let skipped = loader.unreadable();
    assert_eq!(skipped.len(), 2, "once per split: {skipped:?}");
    assert!(skipped.iter().all(|(p, _)| p == &bad));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_run_that_meets_an_unreadable_streamed_file_saves_and_says_where() {
    let root = folder_of("stream-run", 10, 4);
    let dir = temp_dir("stream-run-out");
    std::fs::write(root.join("class2/0.png"), b"\x89PNG\r\n\x1a\n broken").expect("corrupt");
    // The compiled `test_tiny` shape: 16 px, patch 4, embed 64, depth 2, 10 classes.
    let text = format!(
        "model {{\n patch = 4\n image = 16\n embed = 64\n depth = 2\n heads = 2\n}}\n\
         data {{\n train = image_folder(\"{r}\")\n val = image_folder(\"{r}\")\n \
         preload = never\n}}\n\
         augment {{\n repeated = 1\n}}\n\
         schedule {{\n length = 2 epochs\n warmup = 0 epochs\n}}\n\
         train {{\n batch = 8\n output = \"{o}\"\n}}\n",
        r = root.display(),
        o = dir.join("runs").display(),
    );
    let path = dir.join("streamed.deit");
    std::fs::write(&path, text).expect("write recipe");
    let c = check(
        &path,
        &[],
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert!(c.ok(), "{:?}", c.diags.items);
    let r = c.recipe.expect("recipe");
    let opts = RunOptions {
        resume: false,
        progress: Progress::Quiet,
        crash_after_steps: None,
    };
    let resolved = r.to_ron().expect("ron");
    let err = run(
        &deitc::train::catalogue::Registry::compiled(),
        &r,
        &resolved,
        &opts,
        &mut |_| {},
    )
    .expect_err("the corrupt file stops it");
    let text = format!("{err:?}");
    assert!(
        text.contains("0.png") && text.contains("--resume"),
        "{text}"
    );
    let saved = dir.join("runs/streamed/001/checkpoint.safetensors");
    assert!(saved.exists(), "the run so far is saved: {text}");

    // Fixed, the run resumes from there and finishes.
    image::RgbImage::from_pixel(20, 20, image::Rgb([1, 2, 3]))
        .save(root.join("class2/0.png"))
        .expect("fix");
    let resume = RunOptions {
        resume: true,
        ..opts
    };
    let report = run(
        &deitc::train::catalogue::Registry::compiled(),
        &r,
        &resolved,
        &resume,
        &mut |_| {},
    )
    .expect("resumed");
    assert_eq!((report.epochs, report.steps), (2, 10));
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&dir);
}
