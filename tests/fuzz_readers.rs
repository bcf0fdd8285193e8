//! A bounded fuzz harness for the readers of untrusted binary files: the safetensors reader
//! (`interop::weights::from_bytes`, what `import`, `export`, `eval` and `finetune.from`
//! read), the PyTorch `.pth` reader (`interop::pth::read`: a zip archive and a pickle),
//! image decoding (`data::image_folder::decode_bytes`: PNG and JPEG, what every image
//! folder goes through) and the IDX reader (`data::idx::decode`: MNIST's and
//! Fashion-MNIST's files, plain or gzipped). Each is thrown random bytes and mutations of a
//! valid file (bytes flipped, overwritten, inserted, cut; the file truncated) and must
//! return a value or an error: never panic, never hang.
//!
//! Each of the eight properties runs [`DEFAULT_CASES`] (256) cases, well under a second in all in a
//! debug build. `DEITC_FUZZ_CASES=N` sets the count for a longer run, e.g.
//! `DEITC_FUZZ_CASES=100000 cargo test --release --test fuzz_readers` (docs/architecture.md,
//! "Testing"). A failing case is shrunk and printed by proptest; nothing is persisted.

use deitc::data::idx::{self, Part};
use deitc::data::image_folder::decode_bytes;
use deitc::interop::{pth, weights};
use deitc::train::tensor_io::{to_bytes, Named};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::sync::OnceLock;

/// Cases per property unless `DEITC_FUZZ_CASES` says otherwise.
const DEFAULT_CASES: u32 = 256;

fn config() -> Config {
    let cases = std::env::var("DEITC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// One edit of a byte string: `(kind, where, byte, length)`.
type Op = (u8, u32, u8, u8);

/// Positions land near the start or the end of the file half of the time, where the
/// headers are (safetensors' JSON, a zip's central directory, an image's chunks and
/// markers), and anywhere otherwise.
fn position(len: usize, at: u32) -> usize {
    let len = len.max(1);
    let at = at as usize;
    match at % 4 {
        0 => (at / 4) % len.min(512),
        1 => len - 1 - (at / 4) % len.min(512),
        _ => (at / 4) % len,
    }
}

fn mutate(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(kind, at, byte, n) in ops {
        if b.is_empty() {
            b.push(byte);
        }
        let i = position(b.len(), at);
        match kind % 6 {
            0 => b[i] ^= 1 << (byte % 8),
            1 => b[i] = byte,
            2 => {
                let j = (i + usize::from(n % 16) + 1).min(b.len());
                b.drain(i..j);
            }
            3 => {
                let piece = vec![byte; usize::from(n % 16) + 1];
                b.splice(i..i, piece);
            }
            // Integers in headers: an extreme value over 4 or 8 bytes.
            4 => {
                let fill = if byte % 2 == 0 { 0xff } else { 0x00 };
                let j = (i + if n % 2 == 0 { 4 } else { 8 }).min(b.len());
                b[i..j].fill(fill);
            }
            _ => b.truncate(i),
        }
    }
    b
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(any::<Op>(), 1..6)
}

/// A small safetensors `state_dict` with metadata, and the same as a deitc checkpoint.
fn safetensors_seeds() -> &'static [Vec<u8>; 2] {
    static SEEDS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let t = |name: &str, shape: Vec<usize>| {
            let n = shape.iter().product::<usize>();
            Named {
                name: name.to_string(),
                data: (0..n).map(|i| i as f32 * 0.25 - 1.0).collect(),
                shape,
            }
        };
        let plain = [
            t("cls_token", vec![1, 1, 4]),
            t("head.weight", vec![3, 4]),
            t("head.bias", vec![3]),
        ];
        let checkpoint: Vec<Named> = plain
            .iter()
            .map(|n| Named {
                name: format!("model.{}", n.name),
                ..n.clone()
            })
            .collect();
        let meta = deitc::train::checkpoint::Meta::imported("timm safetensors").to_map();
        [
            to_bytes(&plain, Default::default()).expect("safetensors"),
            to_bytes(&checkpoint, meta).expect("checkpoint"),
        ]
    })
}

/// timm's small ViT saved by `torch.save` (a zip with a pickle and storages).
fn pth_seed() -> &'static [u8] {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| std::fs::read("tests/fixtures/interop/vit_plain.pth").expect("fixture"))
}

/// A 6×5 RGB PNG and a 6×5 JPEG.
fn image_seeds() -> &'static [Vec<u8>; 2] {
    static SEEDS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    SEEDS.get_or_init(|| {
        use image::ImageEncoder;
        let (w, h) = (6u32, 5u32);
        let px: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&px, w, h, image::ExtendedColorType::Rgb8)
            .expect("png");
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .write_image(&px, w, h, image::ExtendedColorType::Rgb8)
            .expect("jpeg");
        [png, jpeg]
    })
}

/// IDX files, each with whether it is gzipped and what it holds: 3 images of 28 × 28,
/// plain and gzipped, and their 3 labels.
fn idx_seeds() -> &'static [(Vec<u8>, bool, Part); 3] {
    static SEEDS: OnceLock<[(Vec<u8>, bool, Part); 3]> = OnceLock::new();
    SEEDS.get_or_init(|| {
        use std::io::Write;
        let header = |part: Part, dims: &[u32]| -> Vec<u8> {
            let mut h = part.magic().to_be_bytes().to_vec();
            dims.iter().for_each(|d| h.extend(d.to_be_bytes()));
            h
        };
        let mut images = header(Part::Images, &[3, 28, 28]);
        images.extend((0..3 * 784u32).map(|i| (i * 37 % 251) as u8));
        let mut labels = header(Part::Labels, &[3]);
        labels.extend([9, 0, 3]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&images).expect("gzip");
        let gz = gz.finish().expect("gzip");
        [
            (images, false, Part::Images),
            (gz, true, Part::Images),
            (labels, false, Part::Labels),
        ]
    })
}

/// The IDX reader on `bytes`: a header whose values are all there, or an error.
fn read_idx(bytes: &[u8], gz: bool, part: Part) {
    if let Ok((header, values)) = idx::decode(bytes.to_vec(), gz, part, 1 << 20) {
        assert_eq!(Some(values.len() as u64), header.body_bytes());
        if part == Part::Labels {
            if let Ok(labels) = idx::check_labels(&values) {
                assert!(labels.iter().all(|&l| l < 10));
            }
        }
    }
}

/// The safetensors reader on `bytes`, both picks: a value or an error.
fn read_weights(bytes: &[u8]) {
    for pick in [weights::Pick::Model, weights::Pick::Ema] {
        if let Ok(w) = weights::from_bytes("fuzz.safetensors".into(), bytes.to_vec(), pick) {
            // What it returns is usable: shapes hold their values, and they are finite.
            for (key, (shape, data)) in &w.tensors {
                assert_eq!(shape.iter().product::<usize>(), data.len(), "{key}");
                assert!(data.iter().all(|v| v.is_finite()), "{key}");
            }
        }
    }
}

/// The `.pth` reader on `bytes`: a value or an error.
fn read_pth(bytes: &[u8]) {
    if let Ok(tensors) = pth::read(bytes) {
        for (key, (shape, values)) in &tensors {
            if let Ok(values) = values {
                assert_eq!(shape.iter().product::<usize>(), values.len(), "{key}");
            }
        }
    }
}

/// The image decoder on `bytes`, as gray and RGB: pixels that fill the decoded size, or
/// an error.
fn decode(bytes: &[u8]) {
    for channels in [1, 3] {
        if let Ok((px, h, w)) = decode_bytes(bytes, channels) {
            assert!(h > 0 && w > 0);
            assert_eq!(px.len(), channels * h * w);
        }
    }
}

#[test]
fn the_seeds_are_read() {
    for seed in safetensors_seeds() {
        assert!(weights::from_bytes("seed".into(), seed.clone(), weights::Pick::Model).is_ok());
    }
    assert!(pth::read(pth_seed()).is_ok());
    for seed in image_seeds() {
        assert_eq!(decode_bytes(seed, 3).map(|(_, h, w)| (h, w)), Ok((5, 6)));
    }
    for (seed, gz, part) in idx_seeds() {
        let (header, _) = idx::decode(seed.clone(), *gz, *part, 1 << 20).expect("IDX seed");
        assert_eq!(header.count, 3);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic_the_safetensors_reader(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        header in any::<u64>(),
    ) {
        read_weights(&bytes);
        // The same bytes behind a header length, so that the JSON parser is reached.
        let mut framed = (header % 1024).to_le_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        read_weights(&framed);
    }

    #[test]
    fn mutated_safetensors_never_panic(which in 0usize..2, ops in ops()) {
        read_weights(&mutate(&safetensors_seeds()[which], &ops));
    }

    #[test]
    fn random_bytes_never_panic_the_pth_reader(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        read_pth(&bytes);
        read_pth(&zip);
    }

    #[test]
    fn mutated_pth_files_never_panic(ops in ops()) {
        read_pth(&mutate(pth_seed(), &ops));
    }

    #[test]
    fn random_bytes_never_panic_the_image_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        magic in 0usize..2,
    ) {
        decode(&bytes);
        // Behind a PNG or JPEG signature, so that the format is guessed and decoding starts.
        let mut framed = [&b"\x89PNG\r\n\x1a\n"[..], &b"\xff\xd8\xff"[..]][magic].to_vec();
        framed.extend_from_slice(&bytes);
        decode(&framed);
    }

    #[test]
    fn mutated_images_never_panic(which in 0usize..2, ops in ops()) {
        decode(&mutate(&image_seeds()[which], &ops));
    }

    #[test]
    fn random_bytes_never_panic_the_idx_reader(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        which in 0usize..3,
    ) {
        for part in [Part::Images, Part::Labels] {
            read_idx(&bytes, false, part);
            read_idx(&bytes, true, part);
        }
        // Behind an IDX magic number, and behind a gzip header, so that parsing starts.
        let (magic, gz, part): (&[u8], bool, Part) = [
            (&[0u8, 0, 8, 3][..], false, Part::Images),
            (&[0u8, 0, 8, 1][..], false, Part::Labels),
            (&[0x1f_u8, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff][..], true, Part::Images),
        ][which];
        let mut framed = magic.to_vec();
        framed.extend_from_slice(&bytes);
        read_idx(&framed, gz, part);
    }

    #[test]
    fn mutated_idx_files_never_panic(which in 0usize..3, ops in ops()) {
        let (seed, gz, part) = &idx_seeds()[which];
        read_idx(&mutate(seed, &ops), *gz, *part);
    }
}
