//! JPEG decoding against Pillow: with libjpeg-turbo loaded (`deitc::data::turbojpeg`),
//! deitc's pixels are Pillow's, bit for bit (`Image.open(p).convert("RGB")` and
//! `.convert("L")`), on JPEGs written by Pillow and by the `image` crate: 4:2:0, 4:2:2 and
//! 4:4:4 chroma, odd sizes, grayscale, progressive, an ImageNet-sized photo-like image.
//! Skipped, with a note, where `python3 -c "import PIL"` fails or libjpeg-turbo is not
//! loaded (not installed, or `DEITC_TURBOJPEG=off`). Without the library, and with
//! `DEITC_TURBOJPEG=off`, the pure-Rust decoder is used, which the last test checks.

use deitc::data::image_folder::decode_bytes;
use deitc::data::turbojpeg::{decoder, Decoder, Fallback, ENV};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes the Pillow-encoded cases into `argv[1]`, then, for every `*.jpg` there, what
/// Pillow decodes: `<name>.rgb` (`convert("RGB")`) and `<name>.l` (`convert("L")`), raw.
const PILLOW: &str = r#"
import sys, os
from PIL import Image

d = sys.argv[1]

def card(w, h):
    # A photo-like test card: gradients, fine stripes and a diagonal edge.
    px = bytearray()
    for y in range(h):
        for x in range(w):
            r = x * 255 // w
            g = y * 255 // h
            b = 40 if (x // 5 + y // 3) % 2 == 0 else 210
            if x * h > y * w:
                r, b = 255 - r, (b + x * y) % 256
            px += bytes((r, g, b))
    return Image.frombytes("RGB", (w, h), bytes(px))

card(37, 23).save(f"{d}/pil_420_37x23.jpg", quality=90, subsampling=2)
card(37, 23).save(f"{d}/pil_444_37x23.jpg", quality=90, subsampling=0)
card(53, 41).save(f"{d}/pil_422_53x41.jpg", quality=75, subsampling=1)
card(37, 23).convert("L").save(f"{d}/pil_gray_37x23.jpg", quality=90)
card(61, 45).save(f"{d}/pil_progressive_61x45.jpg", quality=85, progressive=True)
card(500, 375).save(f"{d}/pil_420_500x375.jpg", quality=90)

for name in sorted(os.listdir(d)):
    if name.endswith(".jpg"):
        im = Image.open(f"{d}/{name}")
        stem = name[:-4]
        rgb = im.convert("RGB")
        open(f"{d}/{stem}.size", "w").write(f"{rgb.width} {rgb.height}")
        open(f"{d}/{stem}.rgb", "wb").write(rgb.tobytes())
        open(f"{d}/{stem}.l", "wb").write(im.convert("L").tobytes())
"#;

fn pillow_here() -> bool {
    Command::new("python3")
        .args(["-c", "import PIL"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A fresh scratch folder for this process.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("jpeg_pillow_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    dir
}

/// The same test card as the Python one, encoded by the `image` crate.
fn rust_card(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let (mut r, g, mut b) = (x * 255 / w, y * 255 / h, 40);
        if (x / 5 + y / 3) % 2 == 1 {
            b = 210;
        }
        if x * h > y * w {
            (r, b) = (255 - r, (b + x * y) % 256);
        }
        image::Rgb([r as u8, g as u8, b as u8])
    })
}

fn write_jpeg(path: &Path, img: &image::DynamicImage, quality: u8) {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .expect("encode a JPEG");
    std::fs::write(path, bytes).expect("write a JPEG");
}

/// CHW planes → interleaved HWC.
fn interleave(chw: &[u8], c: usize) -> Vec<u8> {
    let hw = chw.len() / c;
    (0..hw)
        .flat_map(|i| (0..c).map(move |k| chw[k * hw + i]))
        .collect()
}

#[test]
fn with_libjpeg_turbo_deitc_decodes_jpeg_exactly_as_pillow() {
    if !pillow_here() {
        eprintln!("note: skipped, `python3 -c \"import PIL\"` fails here");
        return;
    }
    if let d @ Decoder::PureRust(_) = decoder() {
        eprintln!("note: skipped, libjpeg-turbo is not used here: {d}");
        return;
    }
    let dir = scratch("exact");
    write_jpeg(
        &dir.join("rust_37x23.jpg"),
        &image::DynamicImage::ImageRgb8(rust_card(37, 23)),
        90,
    );
    write_jpeg(
        &dir.join("rust_gray_29x17.jpg"),
        &image::DynamicImage::ImageLuma8(image::imageops::grayscale(&rust_card(29, 17))),
        80,
    );
    let out = Command::new("python3")
        .args(["-c", PILLOW])
        .arg(&dir)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "Pillow's side failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list the JPEGs")
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".jpg")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
    let mut differ = Vec::new();
    for name in &names {
        let bytes = std::fs::read(dir.join(format!("{name}.jpg"))).expect("read a JPEG");
        let size = std::fs::read_to_string(dir.join(format!("{name}.size"))).expect("size");
        let (w, h) = size.split_once(' ').expect("`w h`");
        let (w, h): (usize, usize) = (w.parse().expect("w"), h.parse().expect("h"));
        for (c, ext) in [(3, "rgb"), (1, "l")] {
            let pil = std::fs::read(dir.join(format!("{name}.{ext}"))).expect("Pillow's pixels");
            let (chw, dh, dw) = decode_bytes(&bytes, c).expect("deitc decodes it");
            assert_eq!((dh, dw), (h, w), "{name}");
            let ours = interleave(&chw, c);
            assert_eq!(ours.len(), pil.len(), "{name}.{ext}");
            let off = ours.iter().zip(&pil).filter(|(a, b)| a != b).count();
            if off > 0 {
                let worst = ours.iter().zip(&pil).map(|(a, b)| a.abs_diff(*b)).max();
                differ.push(format!(
                    "{name}.{ext}: {off} of {} values differ, by up to {worst:?}",
                    pil.len()
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        differ.is_empty(),
        "deitc ({}) and Pillow differ:\n  {}",
        decoder(),
        differ.join("\n  ")
    );
}

/// With `DEITC_TURBOJPEG=off` the pure-Rust decoder decodes every JPEG. The decoder is
/// chosen once per process, so the test runs itself in a child process with the variable
/// set.
#[test]
fn with_turbojpeg_off_the_pure_rust_decoder_is_used() {
    const NAME: &str = "with_turbojpeg_off_the_pure_rust_decoder_is_used";
    if std::env::var_os(ENV).is_none_or(|v| v != "off") {
        let out = Command::new(std::env::current_exe().expect("this test binary"))
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(ENV, "off")
            .output()
            .expect("run the child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the child test failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    assert_eq!(decoder(), Decoder::PureRust(Fallback::Off));
    let img = image::DynamicImage::ImageRgb8(rust_card(37, 23));
    let dir = scratch("off");
    let path = dir.join("card.jpg");
    write_jpeg(&path, &img, 90);
    let bytes = std::fs::read(&path).expect("read the JPEG");
    let _ = std::fs::remove_dir_all(&dir);
    let (chw, h, w) = decode_bytes(&bytes, 3).expect("decode");
    let pure = image::load_from_memory(&bytes).expect("the image crate decodes it");
    assert_eq!((w, h), (37, 23));
    assert_eq!(interleave(&chw, 3), pure.to_rgb8().into_raw());
}
