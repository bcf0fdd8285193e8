//! timm's RegNetY (`regnet.py`), eval mode only: the official DeiT teacher `regnety_160`
//! (RegNetY-16GF) and the rest of its family, from a timm `state_dict`.
//!
//! `(B, 3, H, W)` → stem (3×3 conv stride 2, BN, ReLU) → stages `s1…s4` of bottleneck blocks
//! (`block`; the first of each has stride 2) → global average pool → `head.fc` → `(B, K)`.
//! Any `H, W ≥ 1` work (each stride-2 step takes `⌈H/2⌉`).
//!
//! Unlike [`Deit`](super::Deit) and [`ConvNet`](super::ConvNet), widths are runtime values:
//! the family has many, and nothing here is trained, so no `TensorCollection` is needed. Every
//! tensor is `Tensor<(usize, …), f32, Dev>` on any dfdx device, BatchNorm is folded into the
//! convolution before it at load time, and the forward pass runs without a tape.
//!
//! Files: `config` (timm's width/depth/group generation, the `state_dict` layout and the
//! parameter count), `conv` (channels-last strided, grouped convolution by gather + batched
//! matmul, BN folding), `se` (squeeze-excitation), `block` (the bottleneck), this file (the
//! network and its loader).

mod block;
mod config;
mod conv;
mod se;

use std::collections::{BTreeMap, BTreeSet};

use dfdx::prelude::*;

pub use block::Bottleneck;
pub use config::{Arch, BlockArch, RegNetCfg, StageArch, REGNETY_160};
pub use conv::{ConvBn, HostConvBn, Map, BN_EPS};
pub use se::{Dense, SqueezeExcite};

use super::LoadError;

/// Named host tensors (timm names, no prefix): shape and f32 values.
pub type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A RegNet on device `Dev`, ready for eval-mode forward passes.
#[derive(Debug, Clone)]
pub struct RegNet<Dev: Device<f32>> {
    pub arch: Arch,
    pub stem: ConvBn<Dev>,
    pub blocks: Vec<Bottleneck<Dev>>,
    pub head: Dense<Dev>,
}

impl<Dev: Device<f32>> RegNet<Dev> {
    /// Checks `tensors` against `arch`'s `state_dict` layout — a missing key, a wrong shape
    /// or an extra key is an error naming the key, and then nothing is uploaded — then folds
    /// the BatchNorms and uploads the weights to `dev`. BatchNorm's step counters
    /// (`*.num_batches_tracked`) are dropped by [`crate::interop::weights::read`] before this.
    pub fn load(arch: Arch, tensors: &HostTensors, dev: &Dev) -> Result<Self, LoadError> {
        let layout = arch.tensors();
        for (key, shape) in &layout {
            let (found, _) = tensors
                .get(key)
                .ok_or_else(|| LoadError::Missing { key: key.clone() })?;
            if found != shape {
                return Err(LoadError::Shape {
                    key: key.clone(),
                    expected: shape.clone(),
                    found: found.clone(),
                });
            }
        }
        let known: BTreeSet<&str> = layout.iter().map(|(k, _)| k.as_str()).collect();
        let extra: Vec<String> = tensors
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .cloned()
            .collect();
        if !extra.is_empty() {
            return Err(LoadError::Unexpected { keys: extra });
        }
        let device = |e: Dev::Err| LoadError::Format {
            reason: format!("cannot upload the weights: {e:?}"),
        };
        let values = |key: &str| tensors.get(key).map_or(&[][..], |(_, v)| v.as_slice());
        let conv_bn = |name: &str, in_chs: usize, stride: usize, groups: usize| {
            let (shape, weight) = tensors
                .get(&format!("{name}.conv.weight"))
                .map_or((&[][..], &[][..]), |(s, v)| (s.as_slice(), v.as_slice()));
            let bn = |t: &str| values(&format!("{name}.bn.{t}")).to_vec();
            let host = HostConvBn {
                weight: weight.to_vec(),
                out_chs: shape.first().copied().unwrap_or(0),
                in_chs,
                k: shape.get(2).copied().unwrap_or(1),
                groups,
                stride,
                bn: [
                    bn("weight"),
                    bn("bias"),
                    bn("running_mean"),
                    bn("running_var"),
                ],
            };
            ConvBn::new(dev, &host).map_err(device)
        };
        let stem = conv_bn("stem", arch.in_chans, 2, 1)?;
        let mut blocks = Vec::new();
        for b in arch.blocks() {
            let n = b.name();
            let se = match b.se_chs {
                0 => None,
                _ => {
                    let dense = |fc: &str| {
                        let w = values(&format!("{n}.se.{fc}.weight"));
                        Dense::new(dev, w, values(&format!("{n}.se.{fc}.bias"))).map_err(device)
                    };
                    Some(SqueezeExcite {
                        fc1: dense("fc1")?,
                        fc2: dense("fc2")?,
                    })
                }
            };
            blocks.push(Bottleneck {
                conv1: conv_bn(&format!("{n}.conv1"), b.in_chs, 1, 1)?,
                conv2: conv_bn(&format!("{n}.conv2"), b.out_chs, b.stride, b.groups)?,
                se,
                conv3: conv_bn(&format!("{n}.conv3"), b.out_chs, 1, 1)?,
                downsample: match b.downsamples() {
                    true => Some(conv_bn(&format!("{n}.downsample"), b.in_chs, b.stride, 1)?),
                    false => None,
                },
            });
        }
        let head =
            Dense::new(dev, values("head.fc.weight"), values("head.fc.bias")).map_err(device)?;
        Ok(RegNet {
            arch,
            stem,
            blocks,
            head,
        })
    }

    /// Classes K.
    pub fn classes(&self) -> usize {
        self.arch.classes
    }

    /// Eval-mode logits `(B, K)` of images `(B, C, H, W)` given NCHW on the host (as the
    /// training loop holds a batch), row-major in the result.
    ///
    /// # Panics
    /// If `images` does not hold `B·C·H·W` values or C is not the stem's input channels.
    pub fn forward_host(
        &self,
        images: &[f32],
        [b, c, h, w]: [usize; 4],
    ) -> Result<Tensor<(usize, usize), f32, Dev>, Dev::Err> {
        assert_eq!(
            images.len(),
            b * c * h * w,
            "images (B, C, H, W) = {:?}",
            [b, c, h, w]
        );
        assert_eq!(c, self.arch.in_chans, "RegNet input channels");
        // NCHW → channels-last pixel rows, on the host.
        let mut rows = vec![0.0; images.len()];
        for bi in 0..b {
            for ci in 0..c {
                for p in 0..h * w {
                    rows[(bi * h * w + p) * c + ci] = images[(bi * c + ci) * h * w + p];
                }
            }
        }
        let dev = self.head.bias.device().clone();
        let x = dev.try_tensor_from_vec(rows, (b * h * w, c))?; // (B·H·W, C)
        self.forward(Map { x, b, h, w })
    }

    /// `(B, H, W, C)` → logits `(B, K)`.
    pub fn forward(&self, x: Map<Dev>) -> Result<Tensor<(usize, usize), f32, Dev>, Dev::Err> {
        let mut x = block::relu(self.stem.forward(&x)?)?; // (B, ⌈H/2⌉, ⌈W/2⌉, stem)
        for blk in &self.blocks {
            x = blk.forward(x)?; // (B, H', W', width)
        }
        let pooled = se::mean_pixels(&x)?; // (B, C)
        self.head.forward(pooled) // (B, K)
    }
}
