//! A convolution with its eval-mode BatchNorm folded in, on channels-last pixel rows, for any
//! channel count, stride and group count known at run time.
//!
//! **Layout.** A feature map is [`Map`]: its pixels as the rows of `x (B·H·W, C)` (row
//! `(b·H + y)·W + x`), with `(B, H, W)` beside it. Weights are folded at load time
//! ([`fold_bn`]) and laid out for a matmul: a `k×k` kernel with `G` groups is
//! `(G, k·k·C/G, O/G)`, rows `(ky, kx, c)`.
//!
//! **3×3 convolution, stride `s`, zero padding 1, `G` groups** (timm's padding
//! `((s − 1) + (k − 1)) / 2 = 1` for both strides), like `conv.rs`'s, by one gather and one
//! matmul, here batched over groups:
//! 1. view `x` as `(B·H·W·G, C/G)` — row `p·G + g` is pixel `p`'s channels of group `g` —
//!    and append one zero row `(B·H·W·G + 1, C/G)`;
//! 2. gather with a host-built index ordered `(g, output pixel, ky, kx)`: the row of input
//!    pixel `(b, yo·s + ky − 1, xo·s + kx − 1)` in group `g`, or the zero row in the padding.
//!    Reshaped, that is the grouped im2col tensor `(G, N_out, 9·C/G)` with no transpose;
//! 3. batched matmul with the kernel `(G, 9·C/G, O/G)` → `(G, N_out, O/G)`, then (when
//!    `G > 1`) permute to `(N_out, G, O/G)` = `(N_out, O)`, and add the bias.
//!
//! The output side is `(H − 1) / s + 1` (PyTorch's `⌊(H + 2 − 3) / s⌋ + 1`), so odd sizes work.
//! **1×1 convolution, stride `s`:** pick every `s`-th pixel (a gather; none for `s = 1`),
//! then one matmul `(N_out, C) × (C, O)`. Only device-generic dfdx ops are used.

use dfdx::prelude::*;

/// BatchNorm epsilon (PyTorch's default, timm's RegNet).
pub const BN_EPS: f64 = 1e-5;

/// A channels-last feature map: pixel rows `x (B·H·W, C)` of `B` images `H×W`.
#[derive(Debug, Clone)]
pub struct Map<Dev: Device<f32>> {
    pub x: Tensor<(usize, usize), f32, Dev>,
    pub b: usize,
    pub h: usize,
    pub w: usize,
}

impl<Dev: Device<f32>> Map<Dev> {
    /// Pixels `B·H·W`.
    pub fn pixels(&self) -> usize {
        self.b * self.h * self.w
    }

    /// Channels C.
    pub fn channels(&self) -> usize {
        self.x.shape().1
    }
}

/// A PyTorch conv weight `[O, I/G, k, k]` and its BatchNorm, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConvBn {
    /// `[O, I/G, k, k]`, row-major.
    pub weight: Vec<f32>,
    pub out_chs: usize,
    pub in_chs: usize,
    pub k: usize,
    pub groups: usize,
    pub stride: usize,
    /// `weight`, `bias`, `running_mean`, `running_var`, each `[O]`.
    pub bn: [Vec<f32>; 4],
}

/// Folds eval-mode BatchNorm into the convolution before it:
/// `γ·(conv(x) − μ)/√(σ² + ε) + β` = `conv_{w·a}(x) + (β − μ·a)` with `a = γ/√(σ² + ε)` per
/// output channel. Returns the scaled weight `[O, I/G, k, k]` and the bias `[O]`.
pub fn fold_bn(c: &HostConvBn) -> (Vec<f32>, Vec<f32>) {
    let [gamma, beta, mean, var] = &c.bn;
    let per_out = c.weight.len() / c.out_chs.max(1);
    let scale: Vec<f64> = (0..c.out_chs)
        .map(|o| f64::from(gamma[o]) / (f64::from(var[o]) + BN_EPS).sqrt())
        .collect();
    let weight = c
        .weight
        .iter()
        .enumerate()
        .map(|(i, &w)| (f64::from(w) * scale[i / per_out]) as f32)
        .collect();
    let bias = (0..c.out_chs)
        .map(|o| (f64::from(beta[o]) - f64::from(mean[o]) * scale[o]) as f32)
        .collect();
    (weight, bias)
}

/// `[O, I/G, k, k]` → `(G, k·k·I/G, O/G)`: entry `(g, (ky·k + kx)·I/G + c, j)` is
/// `w[g·O/G + j, c, ky, kx]`.
pub fn matmul_layout(
    w: &[f32],
    out_chs: usize,
    in_per_group: usize,
    k: usize,
    groups: usize,
) -> Vec<f32> {
    let og = out_chs / groups;
    let rows = k * k * in_per_group;
    let mut out = vec![0.0; groups * rows * og];
    for g in 0..groups {
        for j in 0..og {
            let o = g * og + j;
            for c in 0..in_per_group {
                for t in 0..k * k {
                    let src = (o * in_per_group + c) * k * k + t;
                    out[(g * rows + t * in_per_group + c) * og + j] = w[src];
                }
            }
        }
    }
    out
}

/// A convolution with folded BatchNorm, ready to run.
#[derive(Debug, Clone)]
pub struct ConvBn<Dev: Device<f32>> {
    /// `(G, k·k·I/G, O/G)`.
    pub kernel: Tensor<(usize, usize, usize), f32, Dev>,
    /// `(O,)`.
    pub bias: Tensor<(usize,), f32, Dev>,
    pub k: usize,
    pub stride: usize,
    pub groups: usize,
}

impl<Dev: Device<f32>> ConvBn<Dev> {
    /// Folds `c`'s BatchNorm and uploads the kernel to `dev`.
    pub fn new(dev: &Dev, c: &HostConvBn) -> Result<Self, Dev::Err> {
        let (w, bias) = fold_bn(c);
        let ipg = c.in_chs / c.groups;
        let kernel = matmul_layout(&w, c.out_chs, ipg, c.k, c.groups);
        let shape = (c.groups, c.k * c.k * ipg, c.out_chs / c.groups);
        Ok(ConvBn {
            kernel: dev.try_tensor_from_vec(kernel, shape)?,
            bias: dev.try_tensor_from_vec(bias, (c.out_chs,))?,
            k: c.k,
            stride: c.stride,
            groups: c.groups,
        })
    }

    /// Output channels O.
    pub fn out_chs(&self) -> usize {
        self.bias.shape().0
    }

    /// `(B, H, W, I)` → `(B, H', W', O)` with `H' = (H − 1)/s + 1`, no activation.
    pub fn forward(&self, m: &Map<Dev>) -> Result<Map<Dev>, Dev::Err> {
        let (h, w) = ((m.h - 1) / self.stride + 1, (m.w - 1) / self.stride + 1);
        let n = m.b * h * w;
        let o = self.out_chs();
        let y = match self.k {
            1 => {
                let x = match self.stride {
                    1 => m.x.clone(), // (N, I)
                    s => {
                        let idx = subsample_index(m.b, m.h, m.w, s);
                        let idx = m.x.device().try_tensor_from_vec(idx, (n,))?;
                        m.x.clone().try_gather::<(usize, usize), _>(idx)? // (N', I)
                    }
                };
                let (g, i, _) = *self.kernel.shape();
                let kernel = self.kernel.clone().try_reshape_like(&(g * i, o))?; // (I, O)
                x.try_matmul(kernel)? // (N', O)
            }
            _ => self.grouped(m, h, w)?, // (N', O)
        };
        let bias = self
            .bias
            .clone()
            .try_broadcast_like::<_, Axis<0>>(&(n, o))?; // (N', O)
        Ok(Map {
            x: y.try_add(bias)?,
            b: m.b,
            h,
            w,
        })
    }

    /// The `k×k` grouped convolution's `(N', O)` (see the module docs).
    fn grouped(
        &self,
        m: &Map<Dev>,
        h: usize,
        w: usize,
    ) -> Result<Tensor<(usize, usize), f32, Dev>, Dev::Err> {
        let dev = m.x.device().clone();
        let (g, rows, og) = *self.kernel.shape();
        let (n_in, c) = *m.x.shape();
        let cg = c / g;
        let n = m.b * h * w;
        let src = m.x.clone().try_reshape_like(&(n_in * g, cg))?; // (N·G, C/G)
        let zero = dev.try_zeros_like(&(1usize, cg))?; // (1, C/G)
        let src = (src, zero).try_concat_along(Axis::<0>)?; // (N·G + 1, C/G)
        let geometry = Geometry {
            b: m.b,
            h: m.h,
            w: m.w,
            k: self.k,
            stride: self.stride,
        };
        let idx = im2col_index(geometry, g);
        let len = idx.len();
        let idx = dev.try_tensor_from_vec(idx, (len,))?; // (G·N'·k·k,)
        let cols = src.try_gather::<(usize, usize), _>(idx)?; // (G·N'·k·k, C/G)
        let cols = cols.try_reshape_like(&(g, n, rows))?; // (G, N', k·k·C/G)
        let y = cols.try_matmul(self.kernel.clone())?; // (G, N', O/G)
        match g {
            1 => y.try_reshape_like(&(n, og)), // (N', O)
            _ => y
                .try_permute::<_, Axes3<1, 0, 2>>()? // (N', G, O/G)
                .try_contiguous()?
                .try_reshape_like(&(n, g * og)), // (N', O)
        }
    }
}

/// The input grid and the kernel's size and stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub b: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
}

/// The grouped im2col gather index (zero padding `(k − 1)/2`): entry `(g, b, yo, xo, ky, kx)`
/// is row `pixel·G + g` of input pixel `(b, yo·s + ky − pad, xo·s + kx − pad)`, or the zero
/// row `B·H·W·G` when that pixel is in the padding.
pub fn im2col_index(geo: Geometry, groups: usize) -> Vec<usize> {
    let Geometry { b, h, w, k, stride } = geo;
    let pad = (k - 1) / 2;
    let (ho, wo) = (
        (h + 2 * pad - k) / stride + 1,
        (w + 2 * pad - k) / stride + 1,
    );
    let zero_row = b * h * w * groups;
    let mut idx = Vec::with_capacity(groups * b * ho * wo * k * k);
    for g in 0..groups {
        for bi in 0..b {
            for yo in 0..ho {
                for xo in 0..wo {
                    for ky in 0..k {
                        for kx in 0..k {
                            // (yo·s + ky − pad, xo·s + kx − pad), kept non-negative.
                            let (sy, sx) = (yo * stride + ky, xo * stride + kx);
                            let inside =
                                (pad..h + pad).contains(&sy) && (pad..w + pad).contains(&sx);
                            idx.push(match inside {
                                true => ((bi * h + sy - pad) * w + sx - pad) * groups + g,
                                false => zero_row,
                            });
                        }
                    }
                }
            }
        }
    }
    idx
}

/// Rows of the pixels `(b, yo·s, xo·s)` of a `(B, H, W)` grid (a stride-`s` 1×1 convolution's
/// input).
pub fn subsample_index(b: usize, h: usize, w: usize, stride: usize) -> Vec<usize> {
    let (ho, wo) = ((h - 1) / stride + 1, (w - 1) / stride + 1);
    let mut idx = Vec::with_capacity(b * ho * wo);
    for bi in 0..b {
        for yo in 0..ho {
            for xo in 0..wo {
                idx.push((bi * h + yo * stride) * w + xo * stride);
            }
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct (seven-loop) grouped convolution on NHWC data, the reference.
    #[allow(clippy::too_many_arguments)]
    fn direct(x: &[f32], geo: Geometry, c: usize, w: &[f32], o: usize, groups: usize) -> Vec<f32> {
        let Geometry {
            b,
            h,
            w: wd,
            k,
            stride,
        } = geo;
        let pad = (k - 1) / 2;
        let (ho, wo) = (
            (h + 2 * pad - k) / stride + 1,
            (wd + 2 * pad - k) / stride + 1,
        );
        let (cg, og) = (c / groups, o / groups);
        let mut y = vec![0.0; b * ho * wo * o];
        for bi in 0..b {
            for yo in 0..ho {
                for xo in 0..wo {
                    for oc in 0..o {
                        let g = oc / og;
                        let mut s = 0.0;
                        for ci in 0..cg {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (iy, ix) = (
                                        (yo * stride + ky) as isize - pad as isize,
                                        (xo * stride + kx) as isize - pad as isize,
                                    );
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let p = (bi * h + iy as usize) * wd + ix as usize;
                                    s += x[p * c + g * cg + ci]
                                        * w[((oc * cg + ci) * k + ky) * k + kx];
                                }
                            }
                        }
                        y[((bi * ho + yo) * wo + xo) * o + oc] = s;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn grouped_strided_convolution_matches_the_direct_sum() {
        let dev = Cpu::default();
        for (k, stride, groups, h, w) in [
            (3, 2, 2, 5, 4),
            (3, 1, 3, 3, 3),
            (1, 2, 1, 5, 5),
            (3, 2, 1, 1, 2),
        ] {
            let (b, c, o) = (2, 6, 6);
            let x: Vec<f32> = (0..b * h * w * c)
                .map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0)
                .collect();
            let wt: Vec<f32> = (0..o * (c / groups) * k * k)
                .map(|i| ((i * 5 % 13) as f32 - 6.0) / 6.0)
                .collect();
            let host = HostConvBn {
                weight: wt.clone(),
                out_chs: o,
                in_chs: c,
                k,
                groups,
                stride,
                bn: [
                    vec![1.0; o],
                    vec![0.0; o],
                    vec![0.0; o],
                    vec![1.0 - BN_EPS as f32; o],
                ],
            };
            let conv = ConvBn::new(&dev, &host).expect("conv");
            let m = Map {
                x: dev.tensor_from_vec(x.clone(), (b * h * w, c)),
                b,
                h,
                w,
            };
            let y = conv.forward(&m).expect("forward");
            let want = direct(&x, Geometry { b, h, w, k, stride }, c, &wt, o, groups);
            let got = y.x.as_vec();
            assert_eq!(got.len(), want.len());
            for (g, e) in got.iter().zip(&want) {
                assert!(
                    (g - e).abs() < 1e-4,
                    "k {k} s {stride} g {groups}: {g} vs {e}"
                );
            }
        }
    }

    #[test]
    fn folding_applies_the_batch_norm() {
        let c = HostConvBn {
            weight: vec![2.0, 4.0],
            out_chs: 2,
            in_chs: 1,
            k: 1,
            groups: 1,
            stride: 1,
            bn: [
                vec![1.0, 3.0],
                vec![0.5, 0.0],
                vec![1.0, 2.0],
                vec![4.0, 9.0],
            ],
        };
        let (w, b) = fold_bn(&c);
        let s = [1.0 / (4.0 + BN_EPS).sqrt(), 3.0 / (9.0 + BN_EPS).sqrt()];
        assert!((f64::from(w[0]) - 2.0 * s[0]).abs() < 1e-6);
        assert!((f64::from(w[1]) - 4.0 * s[1]).abs() < 1e-6);
        assert!((f64::from(b[1]) + 2.0 * s[1]).abs() < 1e-6);
    }
}
