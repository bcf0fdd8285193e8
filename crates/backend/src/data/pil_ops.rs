//! The image ops of timm 0.3.2's `timm/data/auto_augment.py` (RandAugment, AutoAugment),
//! bit-exact to Pillow 13 on u8 "L" (1 channel) and "RGB" (3 channels) images stored
//! channel-planar, C×H×W (`img[c·H·W + y·W + x]`).
//!
//! [`PilOp`] is one op with its argument already resolved (the magnitude → argument mapping
//! is the caller's). Every op keeps the image size. What Pillow computes, op by op:
//!
//! * **AutoContrast** (`ImageOps.autocontrast(img)`, cutoff 0): per channel, `lo`/`hi` are
//!   the lowest/highest values present; if `hi ≤ lo` (constant or empty channel) the
//!   channel is unchanged, else with `scale = 255.0 / (hi − lo)` and `offset = −lo·scale`
//!   (f64), `lut[i] = clamp(trunc(i·scale + offset), 0, 255)` (Python `int()`, i.e.
//!   truncation toward zero).
//! * **Equalize** (`ImageOps.equalize(img)`): per channel histogram `h`; if at most one
//!   value is present, unchanged; else `step = (N − h[last]) / 255` (integer division;
//!   `N` pixels, `last` the highest value present); `step = 0` → unchanged (so images with
//!   fewer than ~256 pixels are never equalized); else `lut[i] = n_i / step` with
//!   `n_0 = step / 2`, `n_{i+1} = n_i + h[i]`, clipped to 255 (Pillow's `point` clips the
//!   LUT with `CLIP8`; the highest values can map past 255 when `step` is small).
//! * **Invert**: `255 − v`.
//! * **Posterize** `{ bits }` (timm `posterize`): `bits ≥ 8` → unchanged; else
//!   `v & !(2^(8 − bits) − 1)`. `bits = 0` gives black: that is what timm 0.3.2 got from the
//!   Pillow of its time (RandAugment's increasing posterize maps magnitude 10 to 0 bits);
//!   Pillow 13's `ImageOps.posterize` raises `ValueError` for `bits < 1` instead.
//! * **Solarize** `{ threshold }`: `v ≥ threshold` → `255 − v` (threshold 0 inverts
//!   everything, ≥ 256 changes nothing).
//! * **SolarizeAdd** `{ add, threshold }` (timm `solarize_add`): the LUT
//!   `i < threshold → min(255, i + add)`, else `i`, applied with `Image.point`, which clips
//!   entries to 0..=255 (so a negative `add` clamps at 0).
//! * **Color / Contrast / Brightness** (`ImageEnhance`): `Image.blend(degenerate, img, f)`,
//!   computed as in [`super::color::adjust`]: `d + f·(v − d)` in f32 (`alpha` is a C
//!   `float`), truncated toward zero, clipped to 0..=255 only when `f ∉ [0, 1]`. Degenerate:
//!   Color → `convert("L")` replicated over the channels (`(19595 R + 38470 G + 7471 B +
//!   2¹⁵) >> 16`; an L image is its own, so Color leaves it unchanged); Contrast → the
//!   constant `int(mean(L) + 0.5)`; Brightness → 0.
//! * **Sharpness** (`ImageEnhance.Sharpness`): the same blend with degenerate
//!   `img.filter(ImageFilter.SMOOTH)`: the 3×3 kernel `[1 1 1; 1 5 1; 1 1 1] / 13` with
//!   f32 weights (`1f32 / 13f32`, `5f32 / 13f32`), per channel
//!   `ss = 0.5 + row(y + 1) + row(y) + row(y − 1)` accumulated in f32 in that order, each
//!   `row = (p[x − 1]·k₀ + p[x]·k₁) + p[x + 1]·k₂`, stored as `clamp(ss, 0, 255)`
//!   truncated (so rounded). The first/last row and column are copied unfiltered, and an
//!   image narrower or shorter than 3 px is its own degenerate.
//! * **Rotate** `{ degrees }` (`img.rotate(degrees, BICUBIC, fillcolor=fill)`),
//!   counter-clockwise for positive degrees: with `a = degrees mod 360` (Python's `%`, in
//!   `[0, 360)`), `a = 0` → unchanged; `a = 180` → the exact 180° flip (`transpose`, no
//!   fill, no resampling); `a ∈ {90, 270}` on a square image → the exact transpose (a
//!   non-square one takes the affine path, filling the uncovered band, and interpolates
//!   between pixels when W − H is odd); otherwise the affine transform below with
//!   [`rotate_matrix`]: `θ = −a·(π/180)`, `c = round(cos θ, 15)`, `s = round(sin θ, 15)`
//!   (Python's decimal `round`), matrix `[c, s, (c·(−w/2) + s·(−h/2) + 0) + w/2,
//!   −s, c, (−s·(−w/2) + c·(−h/2) + 0) + h/2]`.
//! * **ShearX(f) / ShearY(f) / TranslateX(px) / TranslateY(px)**:
//!   `img.transform(size, AFFINE, m, BICUBIC, fillcolor=fill)` with `m = (1, f, 0, 0, 1, 0)`,
//!   `(1, 0, 0, f, 1, 0)`, `(1, 0, px, 0, 1, 0)`, `(1, 0, 0, 0, 1, px)`.
//!
//! **Affine transform** ([`affine`], `libImaging/Geometry.c`, `ImagingGenericTransform` +
//! `bicubic_filter8/32RGB`), all in f64: output pixel `(x, y)` samples the source at
//! `xin = a₀(x + ½) + a₁(y + ½) + a₂`, `yin = a₃(x + ½) + a₄(y + ½) + a₅`. If
//! `xin ∉ [0, W)` or `yin ∉ [0, H)` (tested *before* the half-pixel shift) the pixel keeps
//! the fill colour. Else `xs = xin − ½`, `ys = yin − ½`, `x₀ = ⌊xs⌋`, `y₀ = ⌊ys⌋`,
//! `dx = xs − x₀`, `dy = ys − y₀`, and the 4×4 taps are columns `x₀ − 1 … x₀ + 2` clamped
//! to `[0, W − 1]` and rows `y₀ − 1 … y₀ + 2`, the first clamped, each later row that falls
//! outside the image replaced by the previous row's result (equivalent to clamping). The
//! interpolation is the cubic convolution with **a = −1** (not the resize kernel's −0.5),
//! written as Pillow does: for samples `v₁…v₄` at offset `d`,
//! `v₂ + d·((−v₁ + v₃) + d·((2(v₁ − v₂) + v₃ − v₄) + d·(−v₁ + v₂ − v₃ + v₄)))`, first along
//! each row with `dx` (the coefficients are exact integers there), then down the column
//! with `dy` (f64, same operation order). The result is `0` if `≤ 0`, `255` if `≥ 255`, else truncated
//! toward zero — no rounding, so the transforms darken by ½ on average compared with a
//! rounded result, and even an identity-like shift by a whole number of pixels is exact only
//! because `d = 0` then. A non-finite sample position (a NaN/∞ argument) is treated as
//! outside (fill); Pillow's behaviour there is undefined.
//!
//! Fill: one value per channel; a missing value is 0 (Pillow's `Image.new("RGB", size,
//! (v,))` gives `(v, 0, 0)`). Pillow rejects a 3-tuple `fillcolor` for an L image
//! (`TypeError`), so pass one value for 1-channel images (only the first is used).
//!
//! Other channel counts (not checked against Pillow) get the per-channel ops as above; Color
//! only changes images with at least three channels (the first three taken as RGB), and
//! Contrast takes its luma from the first three channels, or from channel 0 when fewer.
//! Images whose buffer length is not `C·H·W`, or with `C = 0`, are left unchanged; no input
//! panics.

use super::color::{self, ColorOp};

/// One op with its resolved argument (the magnitude → argument mapping is done by the caller).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PilOp {
    /// `ImageOps.autocontrast(img)`.
    AutoContrast,
    /// `ImageOps.equalize(img)`.
    Equalize,
    /// `ImageOps.invert(img)`.
    Invert,
    /// timm `posterize`: `bits ≥ 8` → unchanged, else keep the top `bits` bits (0 → black).
    Posterize { bits: u32 },
    /// `ImageOps.solarize(img, threshold)`: `v ≥ threshold` → `255 − v`.
    Solarize { threshold: u32 },
    /// timm `solarize_add`: `v < threshold` → `min(255, v + add)` (clamped at 0).
    SolarizeAdd { add: i32, threshold: u32 },
    /// `ImageEnhance.Color(img).enhance(f)`.
    Color(f64),
    /// `ImageEnhance.Contrast(img).enhance(f)`.
    Contrast(f64),
    /// `ImageEnhance.Brightness(img).enhance(f)`.
    Brightness(f64),
    /// `ImageEnhance.Sharpness(img).enhance(f)` (degenerate = `ImageFilter.SMOOTH`).
    Sharpness(f64),
    /// `img.rotate(degrees, resample=BICUBIC, fillcolor=fill)`, counter-clockwise.
    Rotate { degrees: f64 },
    /// Affine `(1, f, 0, 0, 1, 0)`, bicubic.
    ShearX(f64),
    /// Affine `(1, 0, 0, f, 1, 0)`, bicubic.
    ShearY(f64),
    /// Affine `(1, 0, px, 0, 1, 0)`, bicubic: the content moves left by `px` pixels.
    TranslateX(f64),
    /// Affine `(1, 0, 0, 0, 1, px)`, bicubic: the content moves up by `px` pixels.
    TranslateY(f64),
}

impl PilOp {
    /// Applies the op in place to `img` (C×H×W u8, C = 1 or 3). `fill` has one value per
    /// channel and is used for pixels the geometric ops bring in from outside the image.
    pub fn apply(&self, img: &mut [u8], channels: usize, height: usize, width: usize, fill: &[u8]) {
        let Some(plane) = height.checked_mul(width) else {
            return;
        };
        if channels == 0 || channels.checked_mul(plane) != Some(img.len()) || plane == 0 {
            return;
        }
        match *self {
            PilOp::AutoContrast => {
                for ch in img.chunks_exact_mut(plane) {
                    if let Some(lut) = autocontrast_lut(&histogram(ch)) {
                        apply_lut(ch, &lut);
                    }
                }
            }
            PilOp::Equalize => {
                for ch in img.chunks_exact_mut(plane) {
                    if let Some(lut) = equalize_lut(&histogram(ch)) {
                        apply_lut(ch, &lut);
                    }
                }
            }
            PilOp::Invert => img.iter_mut().for_each(|v| *v = 255 - *v),
            PilOp::Posterize { bits } => {
                if bits < 8 {
                    apply_lut(img, &posterize_lut(bits));
                }
            }
            PilOp::Solarize { threshold } => apply_lut(img, &solarize_lut(threshold)),
            PilOp::SolarizeAdd { add, threshold } => {
                apply_lut(img, &solarize_add_lut(add, threshold));
            }
            PilOp::Color(f) => color::adjust(img, channels, ColorOp::Saturation, f),
            PilOp::Contrast(f) => color::adjust(img, channels, ColorOp::Contrast, f),
            PilOp::Brightness(f) => color::adjust(img, channels, ColorOp::Brightness, f),
            PilOp::Sharpness(f) => sharpness(img, channels, height, width, f),
            PilOp::Rotate { degrees } => {
                let out = rotate(img, channels, height, width, degrees, fill);
                copy_into(img, &out);
            }
            PilOp::ShearX(f) => {
                let out = affine(
                    img,
                    channels,
                    height,
                    width,
                    [1.0, f, 0.0, 0.0, 1.0, 0.0],
                    fill,
                );
                copy_into(img, &out);
            }
            PilOp::ShearY(f) => {
                let out = affine(
                    img,
                    channels,
                    height,
                    width,
                    [1.0, 0.0, 0.0, f, 1.0, 0.0],
                    fill,
                );
                copy_into(img, &out);
            }
            PilOp::TranslateX(px) => {
                let out = affine(
                    img,
                    channels,
                    height,
                    width,
                    [1.0, 0.0, px, 0.0, 1.0, 0.0],
                    fill,
                );
                copy_into(img, &out);
            }
            PilOp::TranslateY(px) => {
                let out = affine(
                    img,
                    channels,
                    height,
                    width,
                    [1.0, 0.0, 0.0, 0.0, 1.0, px],
                    fill,
                );
                copy_into(img, &out);
            }
        }
    }

    /// A short name for logs/previews (timm's op name), e.g. "ShearX".
    pub fn name(&self) -> &'static str {
        match self {
            PilOp::AutoContrast => "AutoContrast",
            PilOp::Equalize => "Equalize",
            PilOp::Invert => "Invert",
            PilOp::Posterize { .. } => "Posterize",
            PilOp::Solarize { .. } => "Solarize",
            PilOp::SolarizeAdd { .. } => "SolarizeAdd",
            PilOp::Color(_) => "Color",
            PilOp::Contrast(_) => "Contrast",
            PilOp::Brightness(_) => "Brightness",
            PilOp::Sharpness(_) => "Sharpness",
            PilOp::Rotate { .. } => "Rotate",
            PilOp::ShearX(_) => "ShearX",
            PilOp::ShearY(_) => "ShearY",
            PilOp::TranslateX(_) => "TranslateX",
            PilOp::TranslateY(_) => "TranslateY",
        }
    }
}

fn copy_into(dst: &mut [u8], src: &[u8]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s;
    }
}

/// The fill value of channel `c` (0 where `fill` has no value for it).
fn fill_of(fill: &[u8], c: usize) -> u8 {
    fill.get(c).copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Point ops (LUTs)

/// The 256-bin histogram of one channel.
pub fn histogram(channel: &[u8]) -> [u64; 256] {
    let mut h = [0u64; 256];
    for &v in channel {
        if let Some(n) = h.get_mut(usize::from(v)) {
            *n += 1;
        }
    }
    h
}

/// Maps every value through `lut`.
pub fn apply_lut(values: &mut [u8], lut: &[u8; 256]) {
    for v in values.iter_mut() {
        *v = lut.get(usize::from(*v)).copied().unwrap_or(*v);
    }
}

/// `ImageOps.autocontrast` (cutoff 0) for one channel's histogram; None when Pillow leaves
/// the channel unchanged (`hi ≤ lo`).
pub fn autocontrast_lut(h: &[u64; 256]) -> Option<[u8; 256]> {
    let lo = h.iter().position(|&n| n > 0)?;
    let hi = h.iter().rposition(|&n| n > 0)?;
    if hi <= lo {
        return None;
    }
    let scale = 255.0 / (hi - lo) as f64;
    let offset = -(lo as f64) * scale;
    let mut lut = [0u8; 256];
    for (i, out) in lut.iter_mut().enumerate() {
        // Python's int(): truncation toward zero, then clamped.
        let v = (i as f64 * scale + offset).trunc();
        *out = v.clamp(0.0, 255.0) as u8;
    }
    Some(lut)
}

/// `ImageOps.equalize` for one channel's histogram; None when Pillow leaves the channel
/// unchanged (at most one value present, or `step = 0`).
pub fn equalize_lut(h: &[u64; 256]) -> Option<[u8; 256]> {
    let present = h.iter().filter(|&&n| n > 0).count();
    if present <= 1 {
        return None;
    }
    let total: u64 = h.iter().sum();
    let last = h.iter().rev().copied().find(|&n| n > 0).unwrap_or(0);
    let step = (total - last) / 255;
    if step == 0 {
        return None;
    }
    let mut lut = [0u8; 256];
    let mut n = step / 2;
    for (out, &count) in lut.iter_mut().zip(h) {
        *out = (n / step).min(255) as u8;
        n += count;
    }
    Some(lut)
}

/// timm's posterize for `bits < 8`: `i & !(2^(8 − bits) − 1)`; 0 bits → all 0.
pub fn posterize_lut(bits: u32) -> [u8; 256] {
    let keep = bits.min(8);
    let mask = !((1u32 << (8 - keep)) - 1) & 0xff;
    std::array::from_fn(|i| (i as u32 & mask) as u8)
}

/// `ImageOps.solarize`: `i ≥ threshold` → `255 − i`.
pub fn solarize_lut(threshold: u32) -> [u8; 256] {
    std::array::from_fn(|i| {
        if (i as u32) < threshold {
            i as u8
        } else {
            255 - i as u8
        }
    })
}

/// timm's `solarize_add`: `i < threshold` → `min(255, i + add)`, clipped at 0 as
/// `Image.point` clips its LUT.
pub fn solarize_add_lut(add: i32, threshold: u32) -> [u8; 256] {
    std::array::from_fn(|i| {
        if (i as u32) < threshold {
            (i as i64 + i64::from(add)).clamp(0, 255) as u8
        } else {
            i as u8
        }
    })
}

// ---------------------------------------------------------------------------------------
// Sharpness

/// `img.filter(ImageFilter.SMOOTH)` (C×H×W u8): the 3×3 kernel `[1 1 1; 1 5 1; 1 1 1] / 13`
/// in f32, rounded (`+ 0.5`, truncation) and clamped; border rows/columns copied. Images
/// smaller than 3×3 (or whose length is not C·H·W) come back unchanged.
pub fn smooth(img: &[u8], channels: usize, height: usize, width: usize) -> Vec<u8> {
    let mut out = img.to_vec();
    let plane = height.saturating_mul(width);
    if height < 3 || width < 3 || channels == 0 || channels.checked_mul(plane) != Some(img.len()) {
        return out;
    }
    // Pillow divides the kernel by the scale in f32 (`kerneldata[i] /= divisor`).
    let k1 = 1.0f32 / 13.0f32;
    let k5 = 5.0f32 / 13.0f32;
    for (src, dst) in img.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
        let px = |y: usize, x: usize| f32::from(src.get(y * width + x).copied().unwrap_or(0));
        for y in 1..height - 1 {
            for x in 1..width - 1 {
                let row =
                    |yy: usize, mid: f32| px(yy, x - 1) * k1 + px(yy, x) * mid + px(yy, x + 1) * k1;
                // Pillow: offset 0 + 0.5 for rounding, then rows y + 1, y, y − 1.
                let mut ss = 0.5f32;
                ss += row(y + 1, k1);
                ss += row(y, k5);
                ss += row(y - 1, k1);
                if let Some(d) = dst.get_mut(y * width + x) {
                    // clip8: clamp to [0, 255], truncate.
                    *d = ss.clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    out
}

/// `ImageEnhance.Sharpness(img).enhance(f)` in place: `blend(smooth(img), img, f)`.
pub fn sharpness(img: &mut [u8], channels: usize, height: usize, width: usize, f: f64) {
    let degenerate = smooth(img, channels, height, width);
    for (v, &d) in img.iter_mut().zip(&degenerate) {
        *v = color::blend(d, *v, f);
    }
}

// ---------------------------------------------------------------------------------------
// Geometry

/// Python's float `%`: the result has the sign of `m` (for `m > 0`: in `[0, m)`).
fn py_mod(x: f64, m: f64) -> f64 {
    let r = x % m;
    if r == 0.0 {
        0.0f64.copysign(m)
    } else if (r < 0.0) != (m < 0.0) {
        r + m
    } else {
        r
    }
}

/// Python's `round(x, 15)`: to the nearest 15-decimal value (correctly rounded), then to the
/// nearest f64.
fn round15(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.15}").parse().unwrap_or(x)
}

/// The inverse affine matrix `Image.rotate(degrees)` (no expand, centre, translate) passes to
/// `Image.transform`, for a `width`×`height` image. `degrees` is reduced mod 360 first, as
/// Pillow does.
pub fn rotate_matrix(degrees: f64, width: usize, height: usize) -> [f64; 6] {
    let angle = -py_mod(degrees, 360.0).to_radians();
    let (sin, cos) = angle.sin_cos();
    let c = round15(cos);
    let s = round15(sin);
    let ms = round15(-sin);
    let cx = width as f64 / 2.0;
    let cy = height as f64 / 2.0;
    let mut m = [c, s, 0.0, ms, c, 0.0];
    m[2] = c * -cx + s * -cy + 0.0;
    m[5] = ms * -cx + c * -cy + 0.0;
    m[2] += cx;
    m[5] += cy;
    m
}

/// `img.rotate(degrees, resample=BICUBIC, fillcolor=fill)` of a C×H×W image, same size
/// (see the module doc for the exact 0°/180°/90°/270° paths).
pub fn rotate(
    img: &[u8],
    channels: usize,
    height: usize,
    width: usize,
    degrees: f64,
    fill: &[u8],
) -> Vec<u8> {
    let plane = height.saturating_mul(width);
    if channels == 0 || channels.checked_mul(plane) != Some(img.len()) || plane == 0 {
        return img.to_vec();
    }
    let angle = py_mod(degrees, 360.0);
    if angle == 0.0 {
        return img.to_vec();
    }
    if angle == 180.0 {
        // Transpose.ROTATE_180: every plane reversed.
        let mut out = img.to_vec();
        out.chunks_exact_mut(plane).for_each(|p| p.reverse());
        return out;
    }
    if (angle == 90.0 || angle == 270.0) && width == height {
        let n = width;
        let mut out = img.to_vec();
        for (src, dst) in img.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
            for y in 0..n {
                for x in 0..n {
                    // ROTATE_90 (counter-clockwise): out(y, x) = in(x, n − 1 − y);
                    // ROTATE_270: out(y, x) = in(n − 1 − x, y).
                    let s = if angle == 90.0 {
                        x * n + (n - 1 - y)
                    } else {
                        (n - 1 - x) * n + y
                    };
                    if let (Some(d), Some(&v)) = (dst.get_mut(y * n + x), src.get(s)) {
                        *d = v;
                    }
                }
            }
        }
        return out;
    }
    affine(
        img,
        channels,
        height,
        width,
        rotate_matrix(angle, width, height),
        fill,
    )
}

/// Pillow's cubic convolution step (`BICUBIC` in `Geometry.c`, a = −1), in its operation
/// order.
#[inline]
fn cubic(v1: f64, v2: f64, v3: f64, v4: f64, d: f64) -> f64 {
    let p1 = v2;
    let p2 = -v1 + v3;
    let p3 = 2.0 * (v1 - v2) + v3 - v4;
    let p4 = -v1 + v2 - v3 + v4;
    p1 + d * (p2 + d * (p3 + d * p4))
}

/// `Image.transform(size, AFFINE, matrix, resample=BICUBIC, fillcolor=fill)` of a C×H×W u8
/// image, output the same size: output pixel `(x, y)` samples the source at
/// `(a₀(x+½) + a₁(y+½) + a₂, a₃(x+½) + a₄(y+½) + a₅)` (see the module doc). A buffer whose
/// length is not C·H·W comes back unchanged.
pub fn affine(
    img: &[u8],
    channels: usize,
    height: usize,
    width: usize,
    matrix: [f64; 6],
    fill: &[u8],
) -> Vec<u8> {
    let plane = height.saturating_mul(width);
    if channels == 0 || channels.checked_mul(plane) != Some(img.len()) || plane == 0 {
        return img.to_vec();
    }
    let [a0, a1, a2, a3, a4, a5] = matrix;
    let (wf, hf) = (width as f64, height as f64);
    let (wi, hi) = (width as i64, height as i64);
    // Shape: out is C×H×W, initialised to the fill colour (`Image.new(mode, size, fill)`).
    let mut out: Vec<u8> = (0..channels)
        .flat_map(|c| std::iter::repeat_n(fill_of(fill, c), plane))
        .collect();
    let xclip = |x: i64| x.clamp(0, wi - 1) as usize;
    for y in 0..height {
        let yin0 = y as f64 + 0.5;
        for x in 0..width {
            let xin0 = x as f64 + 0.5;
            let xin = a0 * xin0 + a1 * yin0 + a2;
            let yin = a3 * xin0 + a4 * yin0 + a5;
            // Outside (or NaN): keep the fill. Pillow tests before the half-pixel shift.
            if !(xin >= 0.0 && xin < wf && yin >= 0.0 && yin < hf) {
                continue;
            }
            let xs = xin - 0.5;
            let ys = yin - 0.5;
            let fx = xs.floor();
            let fy = ys.floor();
            let dx = xs - fx;
            let dy = ys - fy;
            let bx = fx as i64 - 1;
            let by = fy as i64 - 1;
            let cols = [xclip(bx), xclip(bx + 1), xclip(bx + 2), xclip(bx + 3)];
            // Row 0 is clamped; rows 1..3 outside the image repeat the previous row.
            let mut rows = [by.clamp(0, hi - 1) as usize * width; 4];
            for k in 1..4 {
                let r = by + k as i64;
                rows[k] = if (0..hi).contains(&r) {
                    r as usize * width
                } else {
                    rows[k - 1]
                };
            }
            for (src, dst) in img.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
                let v = rows.map(|r| {
                    let px = |c: usize| f64::from(src[r + c]);
                    cubic(px(cols[0]), px(cols[1]), px(cols[2]), px(cols[3]), dx)
                });
                let [v1, v2, v3, v4] = v;
                let value = cubic(v1, v2, v3, v4, dy);
                let value = if value <= 0.0 {
                    0
                } else if value >= 255.0 {
                    255
                } else {
                    value as u8
                };
                if let Some(d) = dst.get_mut(y * width + x) {
                    *d = value;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [PilOp; 15] = [
        PilOp::AutoContrast,
        PilOp::Equalize,
        PilOp::Invert,
        PilOp::Posterize { bits: 0 },
        PilOp::Solarize { threshold: 128 },
        PilOp::SolarizeAdd {
            add: 110,
            threshold: 128,
        },
        PilOp::Color(1.9),
        PilOp::Contrast(0.19),
        PilOp::Brightness(1.81),
        PilOp::Sharpness(1.9),
        PilOp::Rotate { degrees: 27.0 },
        PilOp::ShearX(0.27),
        PilOp::ShearY(-0.27),
        PilOp::TranslateX(3.7),
        PilOp::TranslateY(-100.0),
    ];

    fn all_with(extra: &[PilOp]) -> Vec<PilOp> {
        ALL.iter().chain(extra).copied().collect()
    }

    #[test]
    fn degenerate_sizes_do_not_panic() {
        let odd = [
            PilOp::Rotate { degrees: 90.0 },
            PilOp::Rotate { degrees: 180.0 },
            PilOp::Rotate { degrees: -90.0 },
            PilOp::Rotate { degrees: f64::NAN },
            PilOp::Rotate {
                degrees: f64::INFINITY,
            },
            PilOp::ShearX(f64::NAN),
            PilOp::TranslateX(f64::NEG_INFINITY),
            PilOp::TranslateY(1e300),
            PilOp::Sharpness(f64::NAN),
            PilOp::Posterize { bits: u32::MAX },
            PilOp::SolarizeAdd {
                add: i32::MIN,
                threshold: u32::MAX,
            },
            PilOp::SolarizeAdd {
                add: i32::MAX,
                threshold: 256,
            },
        ];
        for op in all_with(&odd) {
            for (c, h, w) in [
                (1, 0, 0),
                (3, 0, 0),
                (1, 1, 1),
                (3, 1, 1),
                (1, 0, 5),
                (3, 1, 7),
            ] {
                for fill in [&[][..], &[9][..], &[1, 2, 3][..]] {
                    let mut img: Vec<u8> = (0..c * h * w).map(|i| (i * 37) as u8).collect();
                    op.apply(&mut img, c, h, w, fill);
                    assert_eq!(img.len(), c * h * w, "{op:?}");
                }
            }
        }
    }

    #[test]
    fn mismatched_buffers_are_left_alone() {
        for op in ALL {
            for (c, h, w, len) in [
                (3, 2, 2, 5),
                (0, 2, 2, 4),
                (1, usize::MAX, 2, 4),
                (2, 2, 2, 8),
            ] {
                let mut img: Vec<u8> = (0..len).map(|i| (i * 50) as u8).collect();
                let before = img.clone();
                op.apply(&mut img, c, h, w, &[1]);
                if c == 2 {
                    // Two channels is a valid shape: just no panic.
                    continue;
                }
                assert_eq!(img, before, "{op:?} {c}x{h}x{w} len {len}");
            }
        }
    }

    #[test]
    fn one_by_one() {
        // A single pixel: every sample clamps to it; rotations keep it (the centre maps to
        // itself), a 1.0 px shift moves it out.
        let mut img = vec![200u8];
        PilOp::Rotate { degrees: 27.0 }.apply(&mut img, 1, 1, 1, &[5]);
        assert_eq!(img, [200]);
        PilOp::TranslateX(1.0).apply(&mut img, 1, 1, 1, &[5]);
        assert_eq!(img, [5]);
        let mut rgb = vec![10u8, 20, 30];
        PilOp::TranslateY(-1.0).apply(&mut rgb, 3, 1, 1, &[7]);
        assert_eq!(rgb, [7, 0, 0], "missing fill values are 0");
    }

    #[test]
    fn luts() {
        assert!(posterize_lut(0).iter().all(|&v| v == 0));
        assert_eq!(posterize_lut(1)[200], 128);
        assert_eq!(posterize_lut(4)[0xab], 0xa0);
        assert_eq!(solarize_lut(0)[0], 255);
        assert_eq!(solarize_lut(256)[255], 255);
        assert_eq!(solarize_add_lut(110, 128)[127], 237);
        assert_eq!(solarize_add_lut(110, 128)[200], 200);
        assert_eq!(solarize_add_lut(-20, 128)[5], 0);
    }

    #[test]
    fn python_mod_and_round() {
        assert_eq!(py_mod(-27.0, 360.0), 333.0);
        assert_eq!(py_mod(373.0, 360.0), 13.0);
        assert_eq!(py_mod(-360.0, 360.0), 0.0);
        assert_eq!(round15(0.1 + 0.2), 0.3);
        assert_eq!(round15(6.123233995736766e-17), 0.0);
        let m = rotate_matrix(90.0, 13, 11);
        assert_eq!(m[..2], [0.0, -1.0]);
    }

    #[test]
    fn names() {
        let names: Vec<&str> = ALL.iter().map(PilOp::name).collect();
        assert_eq!(names[11], "ShearX");
        assert_eq!(names[13], "TranslateX");
    }
}
