//! Decode throughput of the two JPEG decoders, on one thread, on the same files in memory:
//! libjpeg-turbo (`deitc_backend::data::turbojpeg`, when it loads) and the `image` crate's
//! pure-Rust decoder, each to interleaved RGB, in alternating rounds (best of 5).
//!
//! ```sh
//! python3 bench/make_images.py /tmp/deitc-jpeg-bench 256     # ImageNet-like JPEGs
//! cargo run --release -p deitc-backend --no-default-features --example jpeg_decode -- /tmp/deitc-jpeg-bench
//! ```
//!
//! Every `*.jpg` under the folder is decoded. Numbers go to docs/performance.md.

use deitc_backend::data::turbojpeg::{self, Decoder};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jpg")) {
            out.push(p);
        }
    }
}

fn main() -> Result<(), String> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: jpeg_decode DIR (a folder of JPEGs, e.g. from bench/make_images.py)")?;
    let mut paths = Vec::new();
    walk(Path::new(&dir), &mut paths);
    paths.sort();
    let files = paths
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<Vec<_>, _>>()?;
    if files.is_empty() {
        return Err(format!("no *.jpg under {dir}"));
    }
    let pure = |b: &[u8]| image::load_from_memory(b).map(|i| i.to_rgb8().len()).ok();
    let turbo = |b: &[u8]| turbojpeg::decode(b).map(|d| d.pixels.len());
    let mut mpix = 0.0;
    for (p, b) in paths.iter().zip(&files) {
        let img = image::load_from_memory(b).map_err(|e| format!("{}: {e}", p.display()))?;
        mpix += f64::from(img.width()) * f64::from(img.height()) / 1e6;
    }
    let time = |f: &dyn Fn(&[u8]) -> Option<usize>| -> Result<f64, String> {
        let t0 = Instant::now();
        for (p, b) in paths.iter().zip(&files) {
            std::hint::black_box(f(b)).ok_or_else(|| format!("{}: not decoded", p.display()))?;
        }
        Ok(t0.elapsed().as_secs_f64())
    };
    let file = match turbojpeg::decoder() {
        Decoder::Turbo { file } => Some(file),
        d @ Decoder::PureRust(_) => {
            println!("libjpeg-turbo is not measured: {d}");
            None
        }
    };
    let (mut best_pure, mut best_turbo) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        best_pure = best_pure.min(time(&pure)?);
        if file.is_some() {
            best_turbo = best_turbo.min(time(&turbo)?);
        }
    }
    let n = files.len() as f64;
    let kb = files.iter().map(Vec::len).sum::<usize>() as f64 / n / 1e3;
    println!(
        "{} JPEGs, {kb:.1} KB and {:.3} Mpixel each on average; one thread, best of 5 rounds",
        files.len(),
        mpix / n
    );
    println!(
        "  pure-Rust (image, zune-jpeg)  {:6.1} img/s  {:6.1} Mpixel/s",
        n / best_pure,
        mpix / best_pure
    );
    if let Some(file) = file {
        println!(
            "  libjpeg-turbo                 {:6.1} img/s  {:6.1} Mpixel/s  {:.2}× ({file})",
            n / best_turbo,
            mpix / best_turbo,
            best_pure / best_turbo
        );
    }
    Ok(())
}
