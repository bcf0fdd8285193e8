//! The RegNet design space: from timm's `RegNetCfg` numbers (`w0`, `wa`, `wm`, `depth`,
//! `group_size`, `se_ratio`) to the concrete network — every block's widths, stride, groups
//! and squeeze-excitation width ([`Arch`]) — and the tensors of its `state_dict`
//! ([`Arch::tensors`]).
//!
//! This is timm's `generate_regnet` then `adjust_widths_groups_comp` (`regnet.py`), with
//! numpy's and Python's round-half-to-even where timm rounds. Stages all have stride 2 (timm's
//! default `output_stride = 32`), bottleneck ratio 1, stem width 32, 1×1-conv downsampling.

/// timm's `RegNetCfg`, the fields deitc supports (bottleneck ratio 1, no group minimum).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegNetCfg {
    pub depth: usize,
    pub w0: usize,
    pub wa: f64,
    pub wm: f64,
    pub group_size: usize,
    pub se_ratio: f64,
    pub stem_width: usize,
}

/// timm's `regnety_160`: RegNetY-16GF, the official DeiT teacher.
pub const REGNETY_160: RegNetCfg = RegNetCfg {
    depth: 18,
    w0: 200,
    wa: 106.23,
    wm: 2.48,
    group_size: 112,
    se_ratio: 0.25,
    stem_width: 32,
};

/// Widths are multiples of this (timm's `quant`).
const QUANT: f64 = 8.0;

/// One stage: `depth` blocks of `width` channels in groups of `group_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageArch {
    pub width: usize,
    pub depth: usize,
    pub group_size: usize,
}

/// One bottleneck block (timm's `Bottleneck`, bottleneck ratio 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockArch {
    /// 1-based stage and block numbers, as timm names them (`s{stage}.b{block}`).
    pub stage: usize,
    pub block: usize,
    pub in_chs: usize,
    pub out_chs: usize,
    /// Of the grouped 3×3 convolution and the shortcut: 2 for a stage's first block, else 1.
    pub stride: usize,
    pub groups: usize,
    /// Squeeze-excitation width, `round(in_chs · se_ratio)`; 0 for no SE (RegNetX).
    pub se_chs: usize,
}

impl BlockArch {
    /// timm's name prefix, `s{stage}.b{block}`.
    pub fn name(&self) -> String {
        format!("s{}.b{}", self.stage, self.block)
    }

    /// Whether the shortcut is a 1×1 convolution with BN (`downsample`) rather than identity.
    pub fn downsamples(&self) -> bool {
        self.in_chs != self.out_chs || self.stride != 1
    }
}

/// A concrete RegNet: input channels, stem width, stages, classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Arch {
    pub in_chans: usize,
    pub stem_width: usize,
    pub se_ratio: f64,
    pub stages: Vec<StageArch>,
    pub classes: usize,
}

impl RegNetCfg {
    /// The stages timm builds for this configuration (after the width/group adjustment).
    pub fn stages(&self) -> Vec<StageArch> {
        let w0 = self.w0 as f64;
        // generate_regnet: a linear width ramp, quantised to powers of wm, multiples of 8.
        let widths: Vec<usize> = (0..self.depth)
            .map(|i| {
                let cont = i as f64 * self.wa + w0;
                let exp = ((cont / w0).ln() / self.wm.ln()).round_ties_even();
                ((w0 * self.wm.powf(exp) / QUANT).round_ties_even() * QUANT) as usize
            })
            .collect();
        // np.unique(widths, return_counts=True): sorted distinct widths and their counts.
        let mut unique: Vec<(usize, usize)> = Vec::new();
        let mut sorted = widths;
        sorted.sort_unstable();
        for w in sorted {
            match unique.last_mut() {
                Some((last, n)) if *last == w => *n += 1,
                _ => unique.push((w, 1)),
            }
        }
        // adjust_widths_groups_comp (bottleneck ratio 1): group size at most the width,
        // width rounded to a multiple of the group size.
        unique
            .into_iter()
            .map(|(w, depth)| {
                let group_size = self.group_size.min(w).max(1);
                let groups = (w as f64 / group_size as f64).round_ties_even() as usize;
                StageArch {
                    width: groups * group_size,
                    depth,
                    group_size,
                }
            })
            .collect()
    }

    /// The network for `classes` classes on `in_chans`-channel images.
    pub fn arch(&self, in_chans: usize, classes: usize) -> Arch {
        Arch {
            in_chans,
            stem_width: self.stem_width,
            se_ratio: self.se_ratio,
            stages: self.stages(),
            classes,
        }
    }
}

impl Arch {
    /// Every block in order.
    pub fn blocks(&self) -> Vec<BlockArch> {
        let mut out = Vec::new();
        let mut prev = self.stem_width;
        for (s, stage) in self.stages.iter().enumerate() {
            for b in 0..stage.depth {
                let in_chs = if b == 0 { prev } else { stage.width };
                out.push(BlockArch {
                    stage: s + 1,
                    block: b + 1,
                    in_chs,
                    out_chs: stage.width,
                    stride: if b == 0 { 2 } else { 1 },
                    groups: stage.width / stage.group_size.max(1),
                    se_chs: (in_chs as f64 * self.se_ratio).round_ties_even() as usize,
                });
            }
            prev = stage.width;
        }
        out
    }

    /// Channels into the head.
    pub fn features(&self) -> usize {
        self.stages.last().map_or(self.stem_width, |s| s.width)
    }

    /// Every tensor of timm's `state_dict` (less `num_batches_tracked`) with its shape, in
    /// model order.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        conv_bn(&mut out, "stem", self.stem_width, self.in_chans, 3);
        for b in self.blocks() {
            let (n, w) = (b.name(), b.out_chs);
            conv_bn(&mut out, &format!("{n}.conv1"), w, b.in_chs, 1);
            conv_bn(&mut out, &format!("{n}.conv2"), w, w / b.groups, 3);
            if b.se_chs > 0 {
                let r = b.se_chs;
                out.push((format!("{n}.se.fc1.weight"), vec![r, w, 1, 1]));
                out.push((format!("{n}.se.fc1.bias"), vec![r]));
                out.push((format!("{n}.se.fc2.weight"), vec![w, r, 1, 1]));
                out.push((format!("{n}.se.fc2.bias"), vec![w]));
            }
            conv_bn(&mut out, &format!("{n}.conv3"), w, w, 1);
            if b.downsamples() {
                conv_bn(&mut out, &format!("{n}.downsample"), w, b.in_chs, 1);
            }
        }
        out.push(("head.fc.weight".into(), vec![self.classes, self.features()]));
        out.push(("head.fc.bias".into(), vec![self.classes]));
        out
    }

    /// Trainable parameters, as timm counts them (`sum(p.numel() for p in
    /// model.parameters())`: BN running statistics are buffers, not parameters).
    pub fn num_params(&self) -> usize {
        self.tensors()
            .iter()
            .filter(|(k, _)| !k.ends_with(".running_mean") && !k.ends_with(".running_var"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// The tensors of timm's `ConvNormAct` `name`: a bias-free `o × i × k × k` convolution and its
/// BatchNorm.
fn conv_bn(out: &mut Vec<(String, Vec<usize>)>, name: &str, o: usize, i: usize, k: usize) {
    out.push((format!("{name}.conv.weight"), vec![o, i, k, k]));
    for t in ["weight", "bias", "running_mean", "running_var"] {
        out.push((format!("{name}.bn.{t}"), vec![o]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regnety_160_has_timms_stages_and_parameter_count() {
        let stages = REGNETY_160.stages();
        let widths: Vec<usize> = stages.iter().map(|s| s.width).collect();
        let depths: Vec<usize> = stages.iter().map(|s| s.depth).collect();
        assert_eq!(widths, [224, 448, 1232, 3024]);
        assert_eq!(depths, [2, 4, 11, 1]);
        assert!(stages.iter().all(|s| s.group_size == 112));
        let arch = REGNETY_160.arch(3, 1000);
        assert_eq!(arch.num_params(), 83_590_140);
        let blocks = arch.blocks();
        assert_eq!(blocks.len(), 18);
        // SE width comes from the block's input: 32 · 0.25 = 8 in s1.b1, 224 · 0.25 after.
        assert_eq!((blocks[0].se_chs, blocks[1].se_chs), (8, 56));
        assert_eq!(blocks[0].groups, 2);
        assert_eq!(blocks[17].groups, 27);
    }

    #[test]
    fn tensors_follow_timms_names() {
        let t = REGNETY_160.arch(3, 1000).tensors();
        let names: Vec<&str> = t.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names[0], "stem.conv.weight");
        let at = |k: &str| names.iter().position(|n| *n == k);
        assert!(at("s1.b1.se.fc1.weight") < at("s1.b1.conv3.conv.weight"));
        assert!(at("s1.b1.downsample.conv.weight").is_some());
        assert!(at("s1.b2.downsample.conv.weight").is_none());
        assert_eq!(
            t[at("s1.b1.conv2.conv.weight").unwrap_or(0)].1,
            [224, 112, 3, 3]
        );
        assert_eq!(names.last(), Some(&"head.fc.bias"));
    }
}
