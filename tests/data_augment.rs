//! The timm/torchvision augmentations of the data pipeline against closed forms and the
//! official algorithms written out here: RandomResizedCrop, PIL resampling, the eval
//! resize + center crop, RASampler, the CIFAR binary sources and ColorJitter.

mod common;

use common::temp_dir;

use deitc::data::cifar::{self, Cifar};
use deitc::data::color::{self, ColorJitter, ColorOp};
use deitc::data::resample::{self, coefficients, Filter, Rect};
use deitc::data::rng::{Purpose, Stream};
use deitc::data::sampler::ra_indices;
use deitc::data::source::{self, Fit};
use deitc::data::transform::{rrc_box, Crop, Normalize, TrainTransform};
use deitc::data::{Batch, DataError, Loader};
use deitc::ir::{CropKind, EraseMode, Interpolation, RandomErasing, Range, Recipe, Source, Split};

/// The pinned digits recipe: a 1-pixel random crop and label smoothing, nothing else.
fn plain_recipe() -> Recipe {
    common::digits_recipe()
}

/// A 3-channel synthetic recipe at `image` px.
fn synthetic_recipe(image: usize, samples: usize) -> Recipe {
    let mut r = plain_recipe();
    r.model.channels = 3;
    r.model.image = image;
    r.data.mean = vec![0.485, 0.456, 0.406];
    r.data.std = vec![0.229, 0.224, 0.225];
    r.data.train = Source::Synthetic {
        samples,
        classes: 10,
        seed: 1,
    };
    r.data.val = Source::Synthetic {
        samples: 20,
        classes: 10,
        seed: 2,
    };
    r.train.batch = 16;
    r
}

fn plain_transform(size: usize, channels: usize, crop: Crop) -> TrainTransform {
    TrainTransform {
        size,
        crop,
        hflip: 0.0,
        policy: None,
        color_jitter: None,
        normalize: Normalize::new(&vec![0.0; channels], &vec![1.0; channels], channels)
            .expect("normalize"),
        erasing: None,
    }
}

// ---------------------------------------------------------------------------------------
// RandomResizedCrop

/// timm 0.3.2's `get_params`, written out from its source, drawing from the same stream.
fn timm_get_params(
    (height, width): (usize, usize),
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut Stream,
) -> (usize, usize, usize, usize) {
    let area = (width * height) as f64;
    for _attempt in 0..10 {
        let target_area = rng.uniform_in(scale.0, scale.1) * area;
        let log_ratio = (ratio.0.ln(), ratio.1.ln());
        let aspect_ratio = rng.uniform_in(log_ratio.0, log_ratio.1).exp();
        // Python's round: half to even.
        let w = (target_area * aspect_ratio).sqrt().round_ties_even() as i64;
        let h = (target_area / aspect_ratio).sqrt().round_ties_even() as i64;
        if 0 < w && w <= width as i64 && 0 < h && h <= height as i64 {
            let i = rng.int_inclusive(0, height - h as usize);
            let j = rng.int_inclusive(0, width - w as usize);
            return (i, j, h as usize, w as usize);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio.0.min(ratio.1) {
        let w = width;
        (
            w,
            (w as f64 / ratio.0.min(ratio.1)).round_ties_even() as usize,
        )
    } else if in_ratio > ratio.0.max(ratio.1) {
        let h = height;
        (
            (h as f64 * ratio.0.max(ratio.1)).round_ties_even() as usize,
            h,
        )
    } else {
        (width, height)
    };
    ((height - h) / 2, (width - w) / 2, h, w)
}

#[test]
fn rrc_box_is_timms_get_params_and_its_statistics_hold() {
    let (scale, ratio) = ((0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0));
    let (h, w) = (60, 90);
    let mut fallbacks = 0;
    let mut area_sum = 0.0;
    let mut tops = std::collections::BTreeSet::new();
    let n = 4000u64;
    for i in 0..n {
        let mut a = Stream::new(Purpose::Sample, 5, 1, i);
        let mut b = a.clone();
        let (r, fallback) = rrc_box((h, w), scale, ratio, &mut a);
        let (top, left, ch, cw) = timm_get_params((h, w), scale, ratio, &mut b);
        assert_eq!((r.top, r.left, r.height, r.width), (top, left, ch, cw));
        assert_eq!(a.next_u64(), b.next_u64(), "same number of draws");
        assert!(r.top + r.height <= h && r.left + r.width <= w && r.height > 0 && r.width > 0);
        fallbacks += usize::from(fallback);
        if !fallback {
            // Each side is a square root rounded to the nearest integer, so the area and
            // the aspect ratio are in range up to half a pixel on each side.
            let (fh, fw) = (r.height as f64, r.width as f64);
            let area = (h * w) as f64;
            assert!((fw + 0.5) * (fh + 0.5) >= 0.08 * area, "{fh}×{fw}");
            assert!((fw - 0.5) * (fh - 0.5) <= area, "{fh}×{fw}");
            assert!((fw + 0.5) / (fh - 0.5) >= 0.75 && (fw - 0.5) / (fh + 0.5) <= 4.0 / 3.0);
            area_sum += fh * fw / area;
            tops.insert(r.top);
        }
    }
    // An accepted draw is uniform on the acceptance region of (area fraction s, ln r):
    // on this 60×90 image a box fits when s ≤ min(1, 2r/3) (the width never binds for
    // r ≤ 4/3). E[s | accepted] from that closed form, integrated over ln r:
    let steps = 2000;
    let (lo, hi) = (0.75f64.ln(), (4.0f64 / 3.0).ln());
    let (mut num, mut den) = (0.0, 0.0);
    for k in 0..steps {
        let r = (lo + (hi - lo) * (k as f64 + 0.5) / steps as f64).exp();
        let top = (2.0 * r / 3.0).min(1.0);
        if top > 0.08 {
            num += (top * top - 0.08 * 0.08) / 2.0;
            den += top - 0.08;
        }
    }
    let expected = num / den;
    let mean = area_sum / (n as usize - fallbacks) as f64;
    assert!(
        (mean - expected).abs() < 0.015,
        "mean area fraction {mean}, expected {expected}"
    );
    // On a 3:2 image with ratios up to 4/3 most draws fit at the first attempts.
    assert!(fallbacks < n as usize / 100, "{fallbacks} fallbacks");
    assert!(tops.len() > 40, "positions spread: {}", tops.len());
}

#[test]
fn rrc_fallback_is_the_documented_central_crop() {
    // An area of 2–3 images never fits: all 10 attempts fail (20 draws), then the fallback.
    let (scale, ratio) = ((2.0, 3.0), (3.0 / 4.0, 4.0 / 3.0));
    let cases = [
        // (h, w) → (top, left, height, width)
        // w/h = 2.5 > 4/3: h = 40, w = round(40·4/3) = 53, left = (100 − 53) // 2 = 23.
        ((40, 100), (0, 23, 40, 53)),
        // w/h = 1/3 < 3/4: w = 30, h = round(30 / 0.75) = 40, top = (90 − 40) // 2 = 25.
        ((90, 30), (25, 0, 40, 30)),
        // w/h = 1 within the range: the whole image.
        ((50, 50), (0, 0, 50, 50)),
        // w/h = 7/5 > 4/3: h = 5, w = round(5·4/3) = round(6.67) = 7 (no crop, left 0).
        ((5, 7), (0, 0, 5, 7)),
        // w/h = 16/5 > 4/3: h = 5, w = round(6.67) = 7, left = (16 − 7) // 2 = 4.
        ((5, 16), (0, 4, 5, 7)),
    ];
    for ((h, w), want) in cases {
        let mut rng = Stream::new(Purpose::Sample, 0, 0, 7);
        let mut twenty = rng.clone();
        let (r, fallback) = rrc_box((h, w), scale, ratio, &mut rng);
        assert!(fallback);
        assert_eq!((r.top, r.left, r.height, r.width), want, "{h}×{w}");
        for _ in 0..20 {
            twenty.next_u64();
        }
        assert_eq!(
            rng.next_u64(),
            twenty.next_u64(),
            "10 attempts, 2 draws each"
        );
    }
    // Python rounds half to even: w/h = 1/2 < 2 → w = 5, h = round(5 / 2) = round(2.5) = 2,
    // top = (10 − 2) // 2 = 4.
    let (r, fallback) = rrc_box(
        (10, 5),
        scale,
        (2.0, 3.0),
        &mut Stream::new(Purpose::Sample, 0, 0, 0),
    );
    assert!(fallback);
    assert_eq!((r.top, r.left, r.height, r.width), (4, 0, 2, 5));
}

#[test]
fn rrc_output_is_the_resized_box() {
    let (h, w) = (30, 45);
    let img: Vec<u8> = (0..3 * h * w).map(|v| (v * 7 % 251) as u8).collect();
    let crop = Crop::RandomResized {
        scale: (0.08, 1.0),
        ratio: (0.75, 4.0 / 3.0),
        filter: Filter::Bicubic,
    };
    let t = plain_transform(16, 3, crop);
    for i in 0..20 {
        let mut rng = Stream::new(Purpose::Sample, 3, 0, i);
        let (px, d) = t.augment_u8(&img, h, w, &mut rng);
        let r = Rect {
            top: d.offset.0,
            left: d.offset.1,
            height: d.crop.0,
            width: d.crop.1,
        };
        assert_eq!(
            px,
            resample::resize_region(&img, (3, h, w), r, (16, 16), Filter::Bicubic)
        );
    }
}

// ---------------------------------------------------------------------------------------
// PIL resampling

#[test]
fn resize_keeps_constants_and_identity() {
    let flat = vec![93u8; 3 * 7 * 5];
    for f in [Filter::Bicubic, Filter::Bilinear, Filter::Nearest] {
        for out in [(3, 2), (7, 5), (15, 11), (1, 1), (20, 3)] {
            let r = resample::resize(&flat, (3, 7, 5), out, f);
            assert_eq!(r.len(), 3 * out.0 * out.1);
            assert!(r.iter().all(|&v| v == 93), "{f:?} {out:?}");
        }
    }
    let img: Vec<u8> = (0..35).map(|v| (v * 37 % 256) as u8).collect();
    assert_eq!(
        resample::resize(&img, (1, 7, 5), (7, 5), Filter::Bicubic),
        img
    );
}

#[test]
fn bicubic_reproduces_a_linear_ramp_away_from_the_borders() {
    // Upsampling ×2: output pixel xx has its centre at input coordinate xx/2 − 1/4, so a
    // ramp 10 + 20·x becomes 5 + 10·xx wherever the 4 taps are inside the row
    // (xx = 3..=10 for 8 → 16); Keys' kernel reproduces linear functions.
    let ramp: Vec<u8> = (0..8).map(|x| 10 + 20 * x).collect();
    let up = resample::resize(&ramp, (1, 1, 8), (1, 16), Filter::Bicubic);
    for (xx, &v) in up.iter().enumerate().take(11).skip(3) {
        assert_eq!(v as usize, 5 + 10 * xx, "{xx}");
    }
    // The whole row as Pillow 13.0 gives it (the borders renormalise truncated taps).
    assert_eq!(
        up,
        [8, 13, 24, 35, 45, 55, 65, 75, 85, 95, 105, 115, 125, 136, 147, 152]
    );
}

#[test]
fn downsampling_is_antialiased_as_pil() {
    // Bilinear ×1/2: the triangle is stretched to support 2, so an interior output pixel
    // (centre 2·xx + 1) weighs inputs 2xx−1 … 2xx+2 with (1, 3, 3, 1)/8; at the left
    // border the taps 0, 1, 2 weigh (3, 3, 1)/7.
    let taps = coefficients(8, 4, Filter::Bilinear);
    assert_eq!(taps[1].0.first, 1);
    assert_eq!(taps[1].1, vec![0.125, 0.375, 0.375, 0.125]);
    assert_eq!(taps[0].0.first, 0);
    let edge: Vec<f64> = taps[0].1.iter().map(|w| w * 7.0).collect();
    assert!(edge
        .iter()
        .zip([3.0, 3.0, 1.0])
        .all(|(a, b)| (a - b).abs() < 1e-12));
    // 22-bit fixed point, rounded half away from zero.
    assert_eq!(
        taps[1].0.weights,
        vec![524_288, 1_572_864, 1_572_864, 524_288]
    );
    // Output = ⌊Σ w·v + 1/2⌋: a ramp 8·x gives 20 at xx = 1 (its value at 2.5), 36 at
    // xx = 2; the borders give ⌊40/7 + 1/2⌋ = 6 and ⌊352/7 + 1/2⌋ = 50.
    let ramp: Vec<u8> = (0..8).map(|x| 8 * x).collect();
    assert_eq!(
        resample::resize(&ramp, (1, 1, 8), (1, 4), Filter::Bilinear),
        [6, 20, 36, 50]
    );

    // Bicubic ×1/2: support 4, 8 taps at (x − centre + 1/2)/2 = ±1/4, ±3/4, ±5/4, ±7/4:
    // k = 0.8671875, 0.2265625, −0.0703125, −0.0234375 (a = −0.5), summing to 2.
    let taps = coefficients(16, 8, Filter::Bicubic);
    let k = [-0.0234375, -0.0703125, 0.2265625, 0.8671875];
    let want: Vec<f64> = k.iter().chain(k.iter().rev()).map(|v| v / 2.0).collect();
    assert_eq!(taps[3].0.first, 3);
    assert_eq!(taps[3].1, want);
    // Without antialiasing (upsampling) the same kernel has 4 taps of support 2.
    assert_eq!(coefficients(4, 8, Filter::Bicubic)[3].1.len(), 4);
}

/// (h, w, out h, out w, filter, input, Pillow's output), 1 channel.
type PilCase = (
    usize,
    usize,
    usize,
    usize,
    Filter,
    &'static [u8],
    &'static [u8],
);

#[test]
fn resize_matches_pillow_on_small_images() {
    // Random images resized by Pillow 13.0 (`Image.frombytes("L", …).resize(…)`). The
    // first two take Pillow's vertical-first order (the height shrinks much more than the
    // width), the third the horizontal-first one.
    let cases: [PilCase; 3] = [
        (
            5,
            7,
            3,
            11,
            Filter::Bicubic,
            &[
                121, 66, 189, 242, 33, 6, 240, 132, 119, 98, 240, 243, 203, 77, 118, 77, 199, 7,
                32, 81, 21, 154, 15, 137, 242, 198, 218, 202, 227, 68, 187, 49, 18, 69, 253,
            ],
            &[
                127, 108, 93, 129, 190, 241, 168, 103, 86, 133, 174, 130, 99, 76, 142, 150, 112,
                117, 133, 150, 100, 57, 208, 127, 44, 137, 165, 129, 99, 95, 125, 195, 243,
            ],
        ),
        (
            6,
            4,
            2,
            5,
            Filter::Bilinear,
            &[
                111, 132, 223, 154, 215, 197, 179, 208, 118, 172, 14, 143, 83, 167, 53, 108, 136,
                145, 63, 32, 246, 247, 45, 176,
            ],
            &[148, 164, 152, 143, 166, 148, 170, 115, 65, 101],
        ),
        (
            4,
            9,
            7,
            3,
            Filter::Bicubic,
            &[
                34, 210, 77, 10, 150, 218, 212, 60, 22, 23, 193, 169, 142, 120, 18, 158, 3, 39, 55,
                16, 101, 208, 149, 134, 79, 21, 173, 160, 184, 70, 193, 192, 235, 197, 52, 138,
            ],
            &[
                96, 138, 117, 113, 128, 93, 138, 113, 54, 102, 127, 63, 71, 152, 90, 120, 181, 122,
                151, 196, 139,
            ],
        ),
    ];
    for (h, w, oh, ow, f, src, want) in cases {
        assert_eq!(
            resample::vertical_first((h, w), (oh, ow)),
            oh < h && h - oh > 2 * w.saturating_sub(ow)
        );
        assert_eq!(
            resample::resize(src, (1, h, w), (oh, ow), f),
            want,
            "{h}×{w}"
        );
    }
}

#[test]
fn nearest_picks_the_pixel_under_each_centre() {
    // 6 → 4: centres at (xx + 1/2)·1.5 = 0.75, 2.25, 3.75, 5.25 → columns 0, 2, 3, 5.
    let row: Vec<u8> = vec![10, 11, 12, 13, 14, 15];
    assert_eq!(
        resample::resize(&row, (1, 1, 6), (1, 4), Filter::Nearest),
        [10, 12, 13, 15]
    );
}

// ---------------------------------------------------------------------------------------
// Eval: resize the short side, center crop

#[test]
fn eval_fit_follows_build_transform() {
    assert_eq!(
        Fit::eval(224, 0.875, Filter::Bicubic),
        Fit::Eval {
            short: 256,
            side: 224,
            filter: Filter::Bicubic
        }
    );
    // int(384 / 0.875) = int(438.86) = 438.
    assert!(matches!(
        Fit::eval(384, 0.875, Filter::Bicubic),
        Fit::Eval { short: 438, .. }
    ));
    // `input_size > 32` only: CIFAR-sized inputs are not resized.
    assert_eq!(Fit::eval(32, 0.875, Filter::Bicubic), Fit::Square(32));
    // torchvision `Resize(256)`: short side 256, long side int(256·long/short).
    assert_eq!(resample::short_side_size((300, 400), 256), (256, 341));
    assert_eq!(resample::short_side_size((500, 375), 256), (341, 256));
    // torchvision 0.8's center crop: int((in − out + 1)·0.5).
    assert_eq!(resample::center_offset(256, 224), 16);
    assert_eq!(resample::center_offset(257, 224), 17);
    assert_eq!(resample::center_offset(341, 224), 59);
    assert_eq!(resample::center_offset(9, 8), 1);
}

#[test]
fn center_crop_takes_the_documented_window() {
    // 10×12, short side already 10: no resize; crop 8×8 at top int(3·0.5) = 1,
    // left int(5·0.5) = 2.
    let (h, w) = (10, 12);
    let img: Vec<u8> = (0..2 * h * w).map(|v| (v % 256) as u8).collect();
    let out = resample::resize_center_crop(&img, (2, h, w), 10, 8, Filter::Bicubic);
    for c in 0..2 {
        for y in 0..8 {
            for x in 0..8 {
                assert_eq!(out[(c * 8 + y) * 8 + x], img[(c * h + y + 1) * w + x + 2]);
            }
        }
    }
    // Otherwise: PIL resize of the whole image to (short, long), then the crop.
    let big: Vec<u8> = (0..20 * 30).map(|v| (v * 13 % 256) as u8).collect();
    let (rh, rw) = resample::short_side_size((20, 30), 12);
    assert_eq!((rh, rw), (12, 18));
    let resized = resample::resize(&big, (1, 20, 30), (rh, rw), Filter::Bicubic);
    let out = resample::resize_center_crop(&big, (1, 20, 30), 12, 10, Filter::Bicubic);
    let (top, left) = (1, 4); // int(3·0.5), int(9·0.5)
    for y in 0..10 {
        assert_eq!(
            &out[y * 10..(y + 1) * 10],
            &resized[(y + top) * rw + left..(y + top) * rw + left + 10]
        );
    }
}

#[test]
fn loader_applies_the_eval_transform_above_32_px() {
    let r = synthetic_recipe(40, 32);
    let loader = Loader::new(&r).expect("loader");
    assert_eq!(loader.image_shape(), (3, 40, 40));
    // The val images: generated at 40 px, resized to int(40/0.875) = 45, center-cropped
    // at int(6·0.5) = 3.
    let raw = source::open(&r.data.val, 3, 40).expect("raw val");
    let want = resample::resize_center_crop(raw.image(0), (3, 40, 40), 45, 40, Filter::Bicubic);
    assert_eq!(loader.val.image(0), &want[..]);
    assert_ne!(loader.val.image(0), raw.image(0));
    // A ratio near 0 is refused rather than resizing to gigapixels.
    let mut tiny = synthetic_recipe(40, 32);
    tiny.data.eval_crop = 0.01;
    let e = Loader::new(&tiny).expect_err("eval_crop 0.01");
    assert!(e.to_string().contains("data.eval_crop"), "{e}");
    // At 32 px and below the eval images are the source images.
    let small = Loader::new(&synthetic_recipe(16, 32)).expect("loader");
    let raw = source::open(&synthetic_recipe(16, 32).data.val, 3, 16).expect("raw");
    assert_eq!(small.val, raw);
}

// ---------------------------------------------------------------------------------------
// RASampler

/// The official `RASampler.__iter__` after the permutation, written out as in samplers.py.
fn official_ra(perm: &[usize], repeats: usize, replicas: usize, rank: usize) -> Vec<usize> {
    let n = perm.len();
    let num_samples = ((n * repeats) as f64 / replicas as f64).ceil() as usize;
    let total_size = num_samples * replicas;
    let num_selected_samples = ((n / 256 * 256) as f64 / replicas as f64).floor() as usize;
    let mut indices: Vec<usize> = Vec::new();
    for &ele in perm {
        for _ in 0..repeats {
            indices.push(ele);
        }
    }
    let pad: Vec<usize> = indices[..total_size - indices.len()].to_vec();
    indices.extend(pad);
    assert_eq!(indices.len(), total_size);
    let indices: Vec<usize> = (rank..total_size)
        .step_by(replicas)
        .map(|i| indices[i])
        .collect();
    assert_eq!(indices.len(), num_samples);
    indices[..num_selected_samples.min(indices.len())].to_vec()
}

#[test]
fn ra_sampler_matches_the_official_algorithm() {
    for n in [0, 10, 255, 256, 300, 600, 1437] {
        let mut perm: Vec<usize> = (0..n).collect();
        Stream::new(Purpose::Shuffle, 0, 3, 0).shuffle(&mut perm);
        for repeats in [1, 2, 3] {
            for replicas in [1, 2, 3, 4] {
                for rank in 0..replicas {
                    assert_eq!(
                        ra_indices(&perm, repeats, replicas, rank),
                        official_ra(&perm, repeats, replicas, rank),
                        "n {n} repeats {repeats} replicas {replicas} rank {rank}"
                    );
                }
            }
        }
    }
    // One process, 600 images, 3 repeats: 512 samples, each index three times in a row.
    let perm: Vec<usize> = (0..600).rev().collect();
    let idx = ra_indices(&perm, 3, 1, 0);
    assert_eq!(idx.len(), 512);
    assert_eq!(&idx[..7], &[599, 599, 599, 598, 598, 598, 597]);
    // Under 256 images an epoch is empty, as in the official code.
    assert!(ra_indices(&perm[..255], 3, 1, 0).is_empty());
}

#[test]
fn loader_repeats_each_image_with_independent_augmentations() {
    let mut r = plain_recipe();
    r.augment.repeated = 3;
    r.augment.hflip = 0.5;
    r.augment.crop.padding = 2;
    let loader = Loader::new(&r).expect("loader");
    // 1437 // 256 · 256 = 1280 samples, 20 batches of 64.
    assert_eq!(loader.steps_per_epoch(), 20);
    let order = loader.order(0);
    assert_eq!(order.len(), 1280);
    for t in order.chunks(3) {
        assert!(t.iter().all(|&i| i == t[0]), "{t:?}");
    }
    assert_ne!(order, loader.order(1));
    let b = loader.train_batch(0, 0, &order).expect("batch");
    // Positions 3t, 3t+1, 3t+2 are the same image with three augmentation streams.
    let per = 64;
    let distinct = (0..21)
        .filter(|&t| {
            let imgs: Vec<&[f32]> = (0..3)
                .map(|k| &b.images[(3 * t + k) * per..(3 * t + k + 1) * per])
                .collect();
            imgs[0] != imgs[1] || imgs[1] != imgs[2]
        })
        .count();
    assert!(distinct >= 18, "{distinct} of 21 triplets differ");
    assert_eq!(b.labels[0], b.labels[1]);
    let mut small = plain_recipe();
    small.augment.repeated = 3;
    small.train.batch = 1300;
    let e = Loader::new(&small).expect_err("epoch of 1280 < batch");
    assert!(e.to_string().contains("train.batch"), "{e}");
}

// ---------------------------------------------------------------------------------------
// CIFAR

/// A record: label byte(s), then pixels `v(c, p)` for the 3 planes.
fn record(labels: &[u8], seed: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    r.extend((0..3072).map(|i| (i as u8).wrapping_mul(3).wrapping_add(seed)));
    r
}

#[test]
fn cifar10_reads_the_binary_release() {
    let root = temp_dir("cifar10");
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for b in 1..=5u8 {
        let bytes = [record(&[b], b), record(&[9 - b], 100 + b)].concat();
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), bytes).expect("write");
    }
    let test = [record(&[7], 1), record(&[0], 2), record(&[3], 3)].concat();
    std::fs::write(dir.join("test_batch.bin"), test).expect("write");
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    std::fs::write(dir.join("batches.meta.txt"), names).expect("write");

    // The parent folder and the release folder both work.
    for path in [&root, &dir] {
        let train = cifar::load(path, Cifar::Ten, Split::Train).expect("train");
        assert_eq!(train.len(), 10);
        assert_eq!(train.labels, [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
        assert_eq!((train.channels, train.height, train.width), (3, 32, 32));
        assert_eq!(train.classes[0], "airplane");
        assert_eq!(train.classes[9], "truck");
        // Record 1 of batch 1: seed 101; planar R, G, B as stored.
        let img = train.image(1);
        assert_eq!((img[0], img[5], img[1024]), (101, 116, 101));
        let val = cifar::load(path, Cifar::Ten, Split::Val).expect("val");
        assert_eq!(val.labels, [7, 0, 3]);
    }

    // `check` counts the records; the loader reads through the Source.
    let src = Source::Cifar10 {
        path: root.display().to_string(),
        split: Split::Train,
    };
    let facts = deitc::check::dataset::facts(&src);
    assert_eq!(
        (facts.classes, facts.samples, facts.missing),
        (Some(10), Some(10), None)
    );
    let val_src = Source::Cifar10 {
        path: root.display().to_string(),
        split: Split::Val,
    };
    assert_eq!(deitc::check::dataset::facts(&val_src).samples, Some(3));
    let gray = source::open(&val_src, 1, 32).expect("grayscale");
    let rgb = source::open(&val_src, 3, 32).expect("rgb");
    assert_eq!(gray.image(0), &color::grayscale(rgb.image(0), 3)[..]);

    let mut r = synthetic_recipe(32, 10);
    r.data.train = src;
    r.data.val = val_src;
    r.train.batch = 4;
    r.augment.crop.kind = CropKind::Random;
    r.augment.crop.padding = 4;
    let loader = Loader::new(&r).expect("cifar loader");
    assert_eq!(loader.steps_per_epoch(), 2);
    assert_eq!(
        loader.eval().map(|b| b.expect("eval").size).sum::<usize>(),
        3
    );

    // Truncated, out-of-range and missing files are errors naming the file.
    std::fs::write(dir.join("test_batch.bin"), &record(&[1], 0)[..3000]).expect("write");
    let e = cifar::load(&root, Cifar::Ten, Split::Val).expect_err("truncated");
    assert!(matches!(e, DataError::Decode { .. }), "{e}");
    assert!(e.to_string().contains("test_batch.bin") && e.to_string().contains("3000 bytes"));
    assert_eq!(deitc::check::dataset::facts(&r.data.val).samples, None);
    std::fs::write(dir.join("test_batch.bin"), record(&[10], 0)).expect("write");
    let e = cifar::load(&root, Cifar::Ten, Split::Val).expect_err("label 10");
    assert!(e.to_string().contains("label 10"), "{e}");
    std::fs::remove_file(dir.join("data_batch_3.bin")).expect("rm");
    let e = cifar::load(&root, Cifar::Ten, Split::Train).expect_err("missing batch");
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert!(e.to_string().contains("data_batch_3.bin"), "{e}");
    let facts = deitc::check::dataset::facts(&r.data.train);
    assert!(facts
        .missing
        .is_some_and(|m| m.ends_with("data_batch_3.bin")));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn cifar100_uses_the_fine_labels() {
    let root = temp_dir("cifar100");
    let dir = root.join("cifar-100-binary");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let train = [record(&[3, 42], 0), record(&[19, 99], 1)].concat();
    std::fs::write(dir.join("train.bin"), train).expect("write");
    std::fs::write(dir.join("test.bin"), record(&[0, 7], 2)).expect("write");
    let d = cifar::load(&dir, Cifar::Hundred, Split::Train).expect("train");
    assert_eq!(d.labels, [42, 99]);
    assert_eq!(d.classes.len(), 100);
    assert_eq!(d.image(1)[0], 1);
    assert_eq!(
        deitc::check::dataset::facts(&Source::Cifar100 {
            path: root.display().to_string(),
            split: Split::Val
        })
        .samples,
        Some(1)
    );
    std::fs::write(dir.join("test.bin"), record(&[0, 100], 2)).expect("write");
    let e = cifar::load(&root, Cifar::Hundred, Split::Val).expect_err("label 100");
    assert!(e.to_string().contains("label 100"), "{e}");
    let e = cifar::load(&root.join("nope"), Cifar::Hundred, Split::Val).expect_err("missing");
    assert!(matches!(e, DataError::MissingFolder { .. }), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}

// ---------------------------------------------------------------------------------------
// ColorJitter

/// PIL's `Image.blend(a, b, f)`: a + f·(b − a) in f32, truncated, clipped when f ∉ [0, 1].
fn pil_blend(a: f32, b: f32, f: f64) -> u8 {
    let f = f as f32;
    let v = a + f * (b - a);
    v.clamp(0.0, 255.0) as u8
}

/// PIL's `convert("L")`: ITU-R 601-2 luma in 16-bit fixed point, i.e. 0.299 R + 0.587 G +
/// 0.114 B rounded.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 32768) >> 16) as u8
}

/// The three ops, from their closed forms.
fn closed_form(img: &[u8], op: ColorOp, f: f64) -> Vec<u8> {
    let p = img.len() / 3;
    let gray: Vec<u8> = (0..p)
        .map(|i| luma(img[i], img[p + i], img[2 * p + i]))
        .collect();
    match op {
        ColorOp::Brightness => img.iter().map(|&v| pil_blend(0.0, v.into(), f)).collect(),
        ColorOp::Contrast => {
            let mean = gray.iter().map(|&g| f64::from(g)).sum::<f64>() / p as f64;
            let d = (mean + 0.5).floor() as f32;
            img.iter().map(|&v| pil_blend(d, v.into(), f)).collect()
        }
        ColorOp::Saturation => img
            .iter()
            .enumerate()
            .map(|(i, &v)| pil_blend(gray[i % p].into(), v.into(), f))
            .collect(),
    }
}

#[test]
fn grayscale_is_pils_luma() {
    for (r, g, b) in [
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (200, 100, 50),
        (1, 2, 3),
    ] {
        let l = color::grayscale(&[r, g, b], 3)[0];
        assert_eq!(l, luma(r, g, b));
        let exact = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
        assert!((f64::from(l) - exact).abs() <= 0.5 + 1e-3, "{l} {exact}");
    }
    assert_eq!(color::grayscale(&[255, 0, 0], 3), [76]);
}

#[test]
fn color_jitter_matches_the_closed_forms() {
    // A 3-channel 2×3 image.
    let img: Vec<u8> = vec![
        10, 200, 30, 250, 128, 0, // R
        40, 60, 220, 250, 128, 90, // G
        70, 120, 10, 250, 128, 255, // B
    ];
    let jitter = ColorJitter::new(0.4).expect("on");
    assert_eq!((jitter.lo, jitter.hi), (0.6, 1.4));
    let mut orders = std::collections::BTreeSet::new();
    for seed in 0..60 {
        let mut rng = Stream::new(Purpose::Sample, seed, 0, 0);
        let mut got = img.clone();
        let ops = jitter.apply(&mut got, 3, &mut rng);
        let mut want = img.clone();
        for (op, f) in ops {
            assert!((0.6..1.4).contains(&f), "{f}");
            want = closed_form(&want, op, f);
        }
        assert_eq!(got, want, "seed {seed}: {ops:?}");
        orders.insert(format!("{:?}", ops.map(|o| o.0)));
    }
    assert_eq!(orders.len(), 6, "every order of the three ops occurs");

    // Hand values: brightness 0.5 halves (truncating), contrast 0 is the rounded mean of L,
    // saturation 0 is L itself, factor 2 extrapolates and clips.
    let mut b = img.clone();
    color::adjust(&mut b, 3, ColorOp::Brightness, 0.5);
    assert_eq!(&b[..6], &[5, 100, 15, 125, 64, 0]);
    let mut c = img.clone();
    color::adjust(&mut c, 3, ColorOp::Contrast, 0.0);
    let l: Vec<u32> = (0..6)
        .map(|i| u32::from(luma(img[i], img[6 + i], img[12 + i])))
        .collect();
    let mean = (f64::from(l.iter().sum::<u32>()) / 6.0 + 0.5).floor() as u8;
    assert!(c.iter().all(|&v| v == mean));
    let mut s = img.clone();
    color::adjust(&mut s, 3, ColorOp::Saturation, 0.0);
    for i in 0..6 {
        assert_eq!([s[i], s[6 + i], s[12 + i]], [l[i] as u8; 3]);
    }
    let mut x = img.clone();
    color::adjust(&mut x, 3, ColorOp::Brightness, 2.0);
    assert_eq!(&x[..6], &[20, 255, 60, 255, 255, 0]);
    // Grayscale images: saturation does nothing.
    let mut g = vec![3u8, 90, 200];
    color::adjust(&mut g, 1, ColorOp::Saturation, 1.7);
    assert_eq!(g, [3, 90, 200]);
    assert!(ColorJitter::new(0.0).is_none());
    assert_eq!(ColorJitter::new(1.0).map(|j| j.lo), Some(0.0));
}

#[test]
fn color_jitter_runs_after_crop_and_flip() {
    let mut t = plain_transform(4, 3, Crop::None);
    t.hflip = 1.0;
    t.color_jitter = ColorJitter::new(0.3);
    let img: Vec<u8> = (0..48).map(|v| (v * 5) as u8).collect();
    let mut rng = Stream::new(Purpose::Sample, 1, 2, 3);
    let (px, d) = t.augment_u8(&img, 4, 4, &mut rng);
    assert!(d.flipped);
    let mut want: Vec<u8> = img.clone();
    for row in want.chunks_exact_mut(4) {
        row.reverse();
    }
    for (op, f) in d.jitter.expect("jittered") {
        color::adjust(&mut want, 3, op, f);
    }
    assert_eq!(px, want);
}

// ---------------------------------------------------------------------------------------
// Determinism

fn all_on(image: usize) -> Recipe {
    let mut r = synthetic_recipe(image, 64);
    r.augment.crop.kind = CropKind::RandomResized;
    r.augment.crop.scale = Range { lo: 0.08, hi: 1.0 };
    r.augment.crop.ratio = Range {
        lo: 0.75,
        hi: 4.0 / 3.0,
    };
    r.augment.crop.interpolation = Interpolation::Bicubic;
    r.augment.hflip = 0.5;
    r.augment.color_jitter = Some(0.4);
    r.augment.random_erasing = Some(RandomErasing {
        prob: 0.25,
        mode: EraseMode::Pixel,
        count: 1,
        area: Range {
            lo: 0.02,
            hi: 1.0 / 3.0,
        },
        aspect: Range {
            lo: 0.3,
            hi: 1.0 / 0.3,
        },
    });
    r
}

#[test]
fn augmented_batches_do_not_depend_on_the_thread_count() {
    let loader = Loader::new(&all_on(40)).expect("loader");
    let run = |threads: usize| -> Vec<Batch> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| loader.epoch(1).take(3).collect::<Result<Vec<_>, _>>())
            .expect("batches")
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one.len(), 3);
    assert!(one
        .iter()
        .all(|b| b.images.len() == 16 * 3 * 40 * 40 && b.images.iter().all(|v| v.is_finite())));
    assert_ne!(
        one[0].images,
        loader
            .epoch(2)
            .next()
            .expect("batch")
            .expect("batch")
            .images
    );

    // The same (seed, epoch, position) gives the same image, whichever batch asks.
    let t = TrainTransform::new(
        &all_on(40).augment,
        40,
        Normalize::new(&[0.5; 3], &[0.25; 3], 3).expect("normalize"),
    )
    .expect("transform");
    let img = loader.train.image(5);
    let (h, w) = loader.train.size(5);
    let mut a = vec![0.0; 3 * 40 * 40];
    let mut b = vec![1.0; 3 * 40 * 40];
    let da = t.apply(
        img,
        h,
        w,
        &mut Stream::new(Purpose::Sample, 0, 1, 9),
        &mut a,
    );
    let db = t.apply(
        img,
        h,
        w,
        &mut Stream::new(Purpose::Sample, 0, 1, 9),
        &mut b,
    );
    assert_eq!((a, da), (b, db));
}

#[test]
fn random_resized_crop_reads_images_at_their_own_size() {
    let root = temp_dir("native");
    let write = |rel: &str, w: u32, h: u32| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 9) as u8, (y * 7) as u8, ((x + y) * 3) as u8])
        });
        img.save(&p).expect("save");
    };
    write("a/1.png", 30, 20);
    write("a/2.png", 25, 40);
    write("b/1.png", 16, 16);
    write("b/2.png", 50, 45);
    let mut r = all_on(16);
    r.data.train = Source::ImageFolder {
        path: root.display().to_string(),
    };
    r.data.val = r.data.train.clone();
    r.model.classes = 2;
    r.train.batch = 2;
    let loader = Loader::new(&r).expect("loader");
    assert!(!loader.train.is_uniform());
    assert_eq!(loader.train.size(0), (20, 30));
    assert_eq!(loader.train.size(3), (45, 50));
    assert!(loader.val.is_uniform());
    assert_eq!((loader.val.height, loader.val.width), (16, 16));
    let b = loader.epoch(0).next().expect("batch").expect("batch");
    assert_eq!(b.images.len(), 2 * 3 * 16 * 16);
    // With crop.kind = random the same folder is resized to 16×16 when loaded.
    r.augment.crop.kind = CropKind::Random;
    let fixed = Loader::new(&r).expect("loader");
    assert!(fixed.train.is_uniform());
    let _ = std::fs::remove_dir_all(&root);
}
