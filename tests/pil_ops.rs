//! `deitc::data::pil_ops` against Pillow 13 through timm 0.3.2's own op functions: every case
//! in `tests/fixtures/pil_ops/cases.bin` (written by `gen.py` there) must match byte for byte.

use std::collections::BTreeMap;
use std::path::PathBuf;

use deitc::data::pil_ops::{self, PilOp};

/// One input image of the fixture (planar C×H×W).
struct Image {
    name: String,
    channels: usize,
    width: usize,
    height: usize,
    data: Vec<u8>,
    fill: Vec<u8>,
}

/// One reference case: timm's `op(image, *args)`.
struct Case {
    image: usize,
    op: String,
    args: Vec<f64>,
    expected: Vec<u8>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = self
            .bytes
            .get(self.pos..self.pos + n)
            .unwrap_or_else(|| panic!("cases.bin truncated at byte {}", self.pos));
        self.pos += n;
        s
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take(2).try_into().expect("length"))
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("length"))
    }
    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take(8).try_into().expect("length"))
    }
    fn str(&mut self) -> String {
        let n = usize::from(self.u8());
        String::from_utf8(self.take(n).to_vec()).expect("ASCII name")
    }
}

fn load() -> (Vec<Image>, Vec<Case>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pil_ops/cases.bin");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = Reader {
        bytes: &bytes,
        pos: 0,
    };
    assert_eq!(r.take(8), b"PILOPS01", "magic");
    let images: Vec<Image> = (0..r.u32())
        .map(|_| {
            let name = r.str();
            let channels = usize::from(r.u8());
            let width = usize::from(r.u16());
            let height = usize::from(r.u16());
            let data = r.take(channels * width * height).to_vec();
            let n = usize::from(r.u8());
            let fill = r.take(n).to_vec();
            Image {
                name,
                channels,
                width,
                height,
                data,
                fill,
            }
        })
        .collect();
    let cases = (0..r.u32())
        .map(|_| {
            let image = usize::from(r.u16());
            let op = r.str();
            let args = (0..r.u8()).map(|_| r.f64()).collect();
            let im = &images[image];
            let expected = r.take(im.channels * im.width * im.height).to_vec();
            Case {
                image,
                op,
                args,
                expected,
            }
        })
        .collect();
    assert_eq!(r.pos, bytes.len(), "trailing bytes in cases.bin");
    (images, cases)
}

/// The [`PilOp`] for timm's function `op` with `args`.
fn pil_op(op: &str, args: &[f64]) -> PilOp {
    let a = |i: usize| args[i];
    match op {
        "auto_contrast" => PilOp::AutoContrast,
        "equalize" => PilOp::Equalize,
        "invert" => PilOp::Invert,
        "posterize" => PilOp::Posterize { bits: a(0) as u32 },
        "solarize" => PilOp::Solarize {
            threshold: a(0) as u32,
        },
        "solarize_add" => PilOp::SolarizeAdd {
            add: a(0) as i32,
            threshold: a(1) as u32,
        },
        "color" => PilOp::Color(a(0)),
        "contrast" => PilOp::Contrast(a(0)),
        "brightness" => PilOp::Brightness(a(0)),
        "sharpness" => PilOp::Sharpness(a(0)),
        "rotate" => PilOp::Rotate { degrees: a(0) },
        "shear_x" => PilOp::ShearX(a(0)),
        "shear_y" => PilOp::ShearY(a(0)),
        "translate_x_abs" => PilOp::TranslateX(a(0)),
        "translate_y_abs" => PilOp::TranslateY(a(0)),
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn every_case_matches_pillow() {
    let (images, cases) = load();
    assert!(cases.len() > 1000, "only {} cases", cases.len());
    let mut per_op: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let im = &images[case.image];
        let op = pil_op(&case.op, &case.args);
        let mut got = im.data.clone();
        op.apply(&mut got, im.channels, im.height, im.width, &im.fill);
        let entry = per_op.entry(op.name()).or_default();
        entry.0 += 1;
        if got != case.expected {
            entry.1 += 1;
            let plane = im.width * im.height;
            let (i, (g, e)) = got
                .iter()
                .zip(&case.expected)
                .enumerate()
                .find(|(_, (g, e))| g != e)
                .expect("a differing byte");
            let differing = got
                .iter()
                .zip(&case.expected)
                .filter(|(g, e)| g != e)
                .count();
            let max = got
                .iter()
                .zip(&case.expected)
                .map(|(&g, &e)| (i16::from(g) - i16::from(e)).abs())
                .max()
                .unwrap_or(0);
            failures.push(format!(
                "{}({:?}) = {op:?} on {} ({}ch {}x{}): first difference at c={} y={} x={}: \
                 got {g}, Pillow {e}; {differing} bytes differ, max |diff| {max}",
                case.op,
                case.args,
                im.name,
                im.channels,
                im.width,
                im.height,
                i / plane,
                i % plane / im.width,
                i % im.width,
            ));
        }
    }
    eprintln!("cases per op (total, failing): {per_op:?}");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Pillow:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn fixture_covers_every_op() {
    let (_, cases) = load();
    let names: std::collections::BTreeSet<&str> = cases
        .iter()
        .map(|c| pil_op(&c.op, &c.args).name())
        .collect();
    assert_eq!(names.len(), 15, "{names:?}");
}

#[test]
fn affine_identity_and_rotate_matrix() {
    // The identity matrix samples pixel centres (d = 0): exact copy.
    let img: Vec<u8> = (0..3 * 5 * 4).map(|i| (i * 41 % 256) as u8).collect();
    let out = pil_ops::affine(&img, 3, 4, 5, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], &[1, 2, 3]);
    assert_eq!(out, img);
    // Pillow's rotate(90) on a 13x11 image: cos rounds to 0, sin to -1 (θ = -π/2).
    let m = pil_ops::rotate_matrix(90.0, 13, 11);
    assert_eq!(m, [0.0, -1.0, 12.0, 1.0, 0.0, -1.0]);
}
