//! Resampling a ViT position embedding to another patch grid, with PyTorch's
//! `F.interpolate(…, align_corners=False)` semantics (antialiasing off), on host f32 buffers.
//!
//! The prefix tokens (cls, and dist for a distilled model) are not part of the grid and are
//! copied unchanged, as the official fine-tuning code does. The grid tokens are row-major
//! (`r·G + c`); each of the `D` channels is resampled on its own.
//!
//! - **bicubic**: the cubic convolution kernel with `A = -0.75`; the source coordinate of
//!   output index `o` is `(o + 0.5)·in/out − 0.5` (not clamped), the four taps around it are
//!   clamped to the border (`upsample_bicubic2d`).
//! - **bilinear**: the source coordinate `(o + 0.5)·in/out − 0.5` is clamped below at 0, the
//!   upper tap at the last index (`upsample_bilinear2d`).
//!
//! Sums run in f64 and are rounded to f32 once, so results agree with PyTorch's float32
//! kernels to rounding (the tests ask for 1e-5 against the timm fixture).

/// How to resample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interp {
    Bicubic,
    Bilinear,
}

/// PyTorch's cubic convolution coefficient `A`.
const A: f64 = -0.75;

/// `|x| ≤ 1`.
fn cubic1(x: f64) -> f64 {
    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
}

/// `1 < |x| < 2`.
fn cubic2(x: f64) -> f64 {
    ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
}

/// For one axis: each output index's taps as `(input index, weight)`.
fn taps(input: usize, output: usize, interp: Interp) -> Vec<Vec<(usize, f64)>> {
    let scale = input as f64 / output as f64;
    let last = input.saturating_sub(1) as i64;
    let clamp = |i: i64| i.clamp(0, last) as usize;
    (0..output)
        .map(|o| {
            if input == output {
                return vec![(o, 1.0)];
            }
            let src = (o as f64 + 0.5) * scale - 0.5;
            match interp {
                Interp::Bicubic => {
                    let i = src.floor();
                    let t = src - i;
                    let i = i as i64;
                    let w = [cubic2(t + 1.0), cubic1(t), cubic1(1.0 - t), cubic2(2.0 - t)];
                    (0..4).map(|k| (clamp(i - 1 + k as i64), w[k])).collect()
                }
                Interp::Bilinear => {
                    let src = src.max(0.0);
                    let i0 = (src.floor() as i64).min(last);
                    let i1 = (i0 + 1).min(last);
                    let l1 = src - i0 as f64;
                    vec![(i0 as usize, 1.0 - l1), (i1 as usize, l1)]
                }
            }
        })
        .collect()
}

/// Resamples a `g_in × g_in × d` channels-last grid to `g_out × g_out × d`.
pub fn resample_grid(
    grid: &[f32],
    g_in: usize,
    g_out: usize,
    d: usize,
    interp: Interp,
) -> Vec<f32> {
    debug_assert_eq!(grid.len(), g_in * g_in * d);
    let axis = taps(g_in, g_out, interp);
    let mut out = vec![0.0f32; g_out * g_out * d];
    let mut acc = vec![0.0f64; d];
    for (oy, ty) in axis.iter().enumerate() {
        for (ox, tx) in axis.iter().enumerate() {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for &(iy, wy) in ty {
                for &(ix, wx) in tx {
                    let w = wy * wx;
                    let src = &grid[(iy * g_in + ix) * d..][..d];
                    for (a, &v) in acc.iter_mut().zip(src) {
                        *a += w * f64::from(v);
                    }
                }
            }
            let dst = &mut out[(oy * g_out + ox) * d..][..d];
            for (o, a) in dst.iter_mut().zip(&acc) {
                *o = *a as f32;
            }
        }
    }
    out
}

/// A position embedding `[1, prefix + g_in², d]` (as a flat buffer) resampled to
/// `[1, prefix + g_out², d]`: the prefix rows copied, the grid resampled.
pub fn resample(
    pos_embed: &[f32],
    prefix: usize,
    g_in: usize,
    g_out: usize,
    d: usize,
    interp: Interp,
) -> Vec<f32> {
    let (head, grid) = pos_embed.split_at(prefix * d);
    let mut out = head.to_vec();
    out.extend(resample_grid(grid, g_in, g_out, d, interp));
    out
}

pub use crate::ir::grid_side;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_the_identity() {
        let grid: Vec<f32> = (0..3 * 3 * 2).map(|i| i as f32 * 0.37 - 1.0).collect();
        for interp in [Interp::Bicubic, Interp::Bilinear] {
            assert_eq!(resample_grid(&grid, 3, 3, 2, interp), grid);
        }
    }

    #[test]
    fn constants_stay_constant() {
        let grid = vec![2.5f32; 4 * 4];
        for interp in [Interp::Bicubic, Interp::Bilinear] {
            for g in [2, 3, 7, 9] {
                let out = resample_grid(&grid, 4, g, 1, interp);
                assert!(
                    out.iter().all(|v| (v - 2.5).abs() < 1e-6),
                    "{interp:?} {g}: {out:?}"
                );
            }
        }
    }

    #[test]
    fn bilinear_doubling_matches_pytorch_by_hand() {
        // F.interpolate(tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode='bilinear')
        // row 0: [0.0, 0.25, 0.75, 1.0]; row 1: [0.5, 0.75, 1.25, 1.5]
        let out = resample_grid(&[0.0, 1.0, 2.0, 3.0], 2, 4, 1, Interp::Bilinear);
        let want = [
            0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0,
        ];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn bicubic_doubling_by_the_kernel_definition() {
        // [0, 1] to 4 samples: sources -0.25, 0.25, 0.75, 1.25; taps clamped at the border,
        // weights from the A = -0.75 kernel (worked out by hand; the timm fixture checks the
        // 2-D case against PyTorch itself in tests/interop.rs).
        let out = resample_grid(&[0.0, 1.0, 0.0, 1.0], 2, 4, 1, Interp::Bicubic);
        let row = [-0.10546875, 0.2265625, 0.7734375, 1.10546875];
        for (a, b) in out[..4].iter().zip(row) {
            assert!((f64::from(*a) - b).abs() < 1e-6, "{out:?}");
        }
        // Mirroring the input mirrors the output.
        let grid: Vec<f32> = (0..25).map(|i| ((i * 7) % 11) as f32).collect();
        let mirrored: Vec<f32> = (0..25).map(|i| grid[(i / 5) * 5 + 4 - i % 5]).collect();
        let a = resample_grid(&grid, 5, 8, 1, Interp::Bicubic);
        let b = resample_grid(&mirrored, 5, 8, 1, Interp::Bicubic);
        for i in 0..64 {
            assert!((a[i] - b[(i / 8) * 8 + 7 - i % 8]).abs() < 1e-5);
        }
    }

    #[test]
    fn prefix_rows_are_copied_and_grids_recognised() {
        let pe: Vec<f32> = (0..(2 + 4) * 3).map(|i| i as f32).collect();
        let out = resample(&pe, 2, 2, 3, 3, Interp::Bicubic);
        assert_eq!(out.len(), (2 + 9) * 3);
        assert_eq!(out[..6], pe[..6]);
        assert_eq!(grid_side(18, 2), Some(4));
        assert_eq!(grid_side(17, 2), None);
        assert_eq!(grid_side(1, 2), None);
        assert_eq!(grid_side(2, 2), None);
    }
}
