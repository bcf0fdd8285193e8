//! Resizing and cropping planar u8 images (C×H×W) with PIL's semantics.
//!
//! torchvision applies its transforms to PIL images, so `Resize`, `RandomResizedCrop` and
//! `CenterCrop` in the official pipeline are PIL's `Image.resize` and `Image.crop`. This
//! module reimplements them rather than using the `image` crate's filters, whose results
//! differ from PIL's (other coordinate mapping, rounding and fixed-point arithmetic):
//!
//! * **Bicubic and bilinear** (`Resample.c`, `ImagingResample`): a separable two-pass
//!   convolution, each pass skipped when that side keeps its size; horizontal first except
//!   when the height shrinks much more than the width ([`vertical_first`]). For an
//!   output pixel `xx` the centre is `(xx + 0.5)·scale` with `scale = in/out`; when
//!   shrinking (`scale > 1`) the kernel is stretched by `scale` (PIL's antialiasing: the
//!   support becomes `support·scale` and the kernel argument is divided by `scale`). Taps
//!   are `[⌊centre − support + 0.5⌋, ⌊centre + support + 0.5⌋)` clipped to the image, the
//!   weights `k((x − centre + 0.5)/max(scale, 1))` are normalised to sum 1, then converted to
//!   22-bit fixed point (rounded half away from zero); each pass accumulates
//!   `2²¹ + Σ v·k` in integers and clips `acc >> 22` to 0..=255. Bicubic is Keys' kernel
//!   with `a = −0.5` (support 2), bilinear the triangle (support 1).
//! * **Nearest** (`Geometry.c`, `ImagingScaleAffine`): source column
//!   `⌊x₀⌋` with `x₀ = scale/2` advanced by `scale` per output pixel (accumulated in f64,
//!   as PIL does), likewise for rows.
//! * **Crop** (`Image.crop`): pixels outside the source read as 0.
//!
//! The eval resize is torchvision's `Resize(int)` (short side to `size`, the long side
//! `int(size·long/short)`), and the center crop is torchvision 0.8's (the version DeiT
//! pins): `top = int((H − h + 1)·0.5)`, `left = int((W − w + 1)·0.5)`.

use crate::ir::Interpolation;

/// PIL's resampling filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BICUBIC`: Keys' cubic, a = −0.5, antialiased when shrinking.
    Bicubic,
    /// `Image.BILINEAR`: the triangle kernel, antialiased when shrinking.
    Bilinear,
    /// `Image.NEAREST`.
    Nearest,
}

impl From<Interpolation> for Filter {
    fn from(i: Interpolation) -> Self {
        match i {
            Interpolation::Bicubic => Filter::Bicubic,
            Interpolation::Bilinear => Filter::Bilinear,
            Interpolation::Nearest => Filter::Nearest,
        }
    }
}

/// PIL's bicubic kernel (`a = −0.5`), written as in `Resample.c`.
pub fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// PIL's bilinear (triangle) kernel.
pub fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The taps of one output pixel: the first source index and its fixed-point weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    pub first: usize,
    pub weights: Vec<i32>,
}

/// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for resizing `input` samples to
/// `output` along one axis (`in0 = 0`, `in1 = input`), and the same weights as f64 before
/// the fixed-point conversion.
pub fn coefficients(input: usize, output: usize, filter: Filter) -> Vec<(Taps, Vec<f64>)> {
    let (kernel, support): (fn(f64) -> f64, f64) = match filter {
        Filter::Bilinear => (bilinear, 1.0),
        // Nearest does not use coefficients; bicubic is the fallback.
        Filter::Bicubic | Filter::Nearest => (bicubic, 2.0),
    };
    let scale = input as f64 / output.max(1) as f64;
    let filterscale = scale.max(1.0);
    let support = support * filterscale;
    let ss = 1.0 / filterscale;
    (0..output)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C's `(int)` truncates; a negative start is clipped to 0 either way.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).clamp(0, input as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax.max(xmin))
                .map(|x| kernel((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                for v in &mut w {
                    *v /= total;
                }
            }
            let one = f64::from(1u32 << PRECISION_BITS);
            let fixed = w
                .iter()
                .map(|&v| {
                    if v < 0.0 {
                        (-0.5 + v * one) as i32
                    } else {
                        (0.5 + v * one) as i32
                    }
                })
                .collect();
            (
                Taps {
                    first: xmin,
                    weights: fixed,
                },
                w,
            )
        })
        .collect()
}

/// ½ in fixed point: the rounding offset every sum starts from.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// A rectangle of an image: `top`, `left`, `height`, `width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// PIL's `img.crop(box).resize((out_w, out_h), filter)` on a planar `c × h × w` image:
/// the region `r` (inside the image) resized to `out_h × out_w`. An empty region or output
/// gives zeros.
pub fn resize_region(
    src: &[u8],
    (c, h, w): (usize, usize, usize),
    r: Rect,
    (out_h, out_w): (usize, usize),
    filter: Filter,
) -> Vec<u8> {
    let mut out = vec![0u8; c * out_h * out_w];
    let inside = r.top + r.height <= h && r.left + r.width <= w && src.len() >= c * h * w;
    if !inside || r.height == 0 || r.width == 0 || out_h == 0 || out_w == 0 {
        return out;
    }
    for ch in 0..c {
        let plane = &src[ch * h * w..(ch + 1) * h * w];
        let dst = &mut out[ch * out_h * out_w..(ch + 1) * out_h * out_w];
        resize_plane(plane, w, r, (out_h, out_w), filter, dst);
    }
    out
}

/// PIL's `img.resize((out_w, out_h), filter)` on a whole planar image.
pub fn resize(
    src: &[u8],
    (c, h, w): (usize, usize, usize),
    (out_h, out_w): (usize, usize),
    filter: Filter,
) -> Vec<u8> {
    let whole = Rect {
        top: 0,
        left: 0,
        height: h,
        width: w,
    };
    resize_region(src, (c, h, w), whole, (out_h, out_w), filter)
}

/// One channel: region `r` of `plane` (row stride `stride`) into `dst` (`out_h × out_w`).
fn resize_plane(
    plane: &[u8],
    stride: usize,
    r: Rect,
    (out_h, out_w): (usize, usize),
    filter: Filter,
    dst: &mut [u8],
) {
    let at = |y: usize, x: usize| plane[(r.top + y) * stride + r.left + x];
    if filter == Filter::Nearest {
        let xs = nearest_index(r.width, out_w);
        let ys = nearest_index(r.height, out_h);
        for (yy, sy) in ys.iter().enumerate() {
            for (xx, sx) in xs.iter().enumerate() {
                dst[yy * out_w + xx] = match (sy, sx) {
                    (Some(sy), Some(sx)) => at(*sy, *sx),
                    _ => 0,
                };
            }
        }
        return;
    }
    // The source region as a plain image.
    let mut region = Vec::with_capacity(r.height * r.width);
    for y in r.top..r.top + r.height {
        region.extend_from_slice(&plane[y * stride + r.left..y * stride + r.left + r.width]);
    }
    let (h, w) = (r.height, r.width);
    let out = if vertical_first((h, w), (out_h, out_w)) {
        let tmp = vertical_pass(&region, (h, w), out_h, filter);
        horizontal_pass(&tmp, (out_h, w), out_w, filter)
    } else {
        let tmp = horizontal_pass(&region, (h, w), out_w, filter);
        vertical_pass(&tmp, (h, out_w), out_h, filter)
    };
    dst.copy_from_slice(&out);
}

/// Whether PIL runs the vertical pass first: current Pillow (checked against 13.0) does
/// when the height shrinks by more than twice what the width shrinks,
/// `in_h > out_h && in_h − out_h > 2·(in_w − out_w)`. (Older releases, such as the 8.x of
/// DeiT's time, always ran the horizontal pass first; the two orders differ by rounding
/// in a few pixels.)
pub fn vertical_first((h, w): (usize, usize), (out_h, out_w): (usize, usize)) -> bool {
    h > out_h && (h - out_h) as i64 > 2 * (w as i64 - out_w as i64)
}

/// One horizontal pass: `h × w` to `h × out_w` (a copy when the width is kept).
fn horizontal_pass(src: &[u8], (h, w): (usize, usize), out_w: usize, filter: Filter) -> Vec<u8> {
    if out_w == w {
        return src.to_vec();
    }
    let taps = coefficients(w, out_w, filter);
    let mut out = vec![0u8; h * out_w];
    // i32 sums as PIL's `ImagingResampleHorizontal_8bpc` (they cannot overflow: the
    // weights sum to 2²² and |weights| to less than 2²³).
    for (row, dst) in src.chunks_exact(w).zip(out.chunks_exact_mut(out_w)) {
        for ((t, _), d) in taps.iter().zip(dst.iter_mut()) {
            let acc = row[t.first..]
                .iter()
                .zip(&t.weights)
                .fold(HALF, |acc, (&v, &k)| acc + i32::from(v) * k);
            *d = clip8(acc);
        }
    }
    out
}

/// One vertical pass: `h × w` to `out_h × w` (a copy when the height is kept). Each output
/// row accumulates whole source rows, so the inner loop runs along memory.
fn vertical_pass(src: &[u8], (h, w): (usize, usize), out_h: usize, filter: Filter) -> Vec<u8> {
    if out_h == h {
        return src.to_vec();
    }
    let taps = coefficients(h, out_h, filter);
    let mut out = vec![0u8; out_h * w];
    let mut acc = vec![0i32; w];
    for ((t, _), dst) in taps.iter().zip(out.chunks_exact_mut(w)) {
        acc.fill(HALF);
        for (i, &k) in t.weights.iter().enumerate() {
            let row = &src[(t.first + i) * w..(t.first + i + 1) * w];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += i32::from(v) * k;
            }
        }
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    out
}

/// PIL's nearest-neighbour source index for each of `output` pixels (None: outside).
fn nearest_index(input: usize, output: usize) -> Vec<Option<usize>> {
    let a = input as f64 / output.max(1) as f64;
    let mut pos = a * 0.5;
    (0..output)
        .map(|_| {
            let i = if pos < 0.0 { None } else { Some(pos as usize) };
            pos += a;
            i.filter(|&i| i < input)
        })
        .collect()
}

/// PIL's `img.crop((left, top, left + width, top + height))` with a possibly negative or
/// overhanging box: pixels outside the source are 0.
pub fn crop(
    src: &[u8],
    (c, h, w): (usize, usize, usize),
    (top, left): (i64, i64),
    (height, width): (usize, usize),
) -> Vec<u8> {
    let mut out = vec![0u8; c * height * width];
    if src.len() < c * h * w {
        return out;
    }
    // The columns of the box that fall inside the source: x in [x0, x1).
    let x0 = (-left).clamp(0, width as i64) as usize;
    let x1 = (w as i64 - left).clamp(x0 as i64, width as i64) as usize;
    for ch in 0..c {
        for y in 0..height {
            let sy = top + y as i64;
            if sy < 0 || sy >= h as i64 || x0 == x1 {
                continue;
            }
            let row = (ch * h + sy as usize) * w;
            let from = (left + x0 as i64) as usize;
            out[(ch * height + y) * width + x0..(ch * height + y) * width + x1]
                .copy_from_slice(&src[row + from..row + from + (x1 - x0)]);
        }
    }
    out
}

/// torchvision's `Resize(size)` with an int: the output `(height, width)` whose short side
/// is `size` and long side `int(size·long/short)`.
pub fn short_side_size((h, w): (usize, usize), size: usize) -> (usize, usize) {
    if h == 0 || w == 0 {
        return (size, size);
    }
    if w <= h {
        (((size * h) as f64 / w as f64) as usize, size)
    } else {
        (size, ((size * w) as f64 / h as f64) as usize)
    }
}

/// torchvision 0.8's center-crop offset `int((in − out + 1)·0.5)` (Python's `int`
/// truncates toward zero, so a crop larger than the image starts before it).
pub fn center_offset(input: usize, output: usize) -> i64 {
    ((input as f64 - output as f64 + 1.0) * 0.5) as i64
}

/// The DeiT eval transform on one image: resize the short side to `short` with `filter`,
/// then center-crop `side × side`.
pub fn resize_center_crop(
    src: &[u8],
    (c, h, w): (usize, usize, usize),
    short: usize,
    side: usize,
    filter: Filter,
) -> Vec<u8> {
    // torchvision 0.8: an image whose short side already is `short` is not resized.
    let (rh, rw) = if h.min(w) == short {
        (h, w)
    } else {
        short_side_size((h, w), short)
    };
    let resized;
    let img = if (rh, rw) == (h, w) {
        src
    } else {
        resized = resize(src, (c, h, w), (rh, rw), filter);
        &resized
    };
    crop(
        img,
        (c, rh, rw),
        (center_offset(rh, side), center_offset(rw, side)),
        (side, side),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_pil_values() {
        assert_eq!(bicubic(0.0), 1.0);
        assert_eq!(bicubic(1.0), 0.0);
        assert_eq!(bicubic(2.0), 0.0);
        assert_eq!(bicubic(0.5), 0.5625);
        assert_eq!(bicubic(1.5), -0.0625);
        assert_eq!(bilinear(0.25), 0.75);
    }

    #[test]
    fn identity_and_constant() {
        let img: Vec<u8> = (0..12).collect();
        assert_eq!(resize(&img, (1, 3, 4), (3, 4), Filter::Bicubic), img);
        let flat = vec![77u8; 3 * 5 * 7];
        for f in [Filter::Bicubic, Filter::Bilinear, Filter::Nearest] {
            assert!(resize(&flat, (3, 5, 7), (4, 11), f)
                .iter()
                .all(|&v| v == 77));
        }
    }
}
