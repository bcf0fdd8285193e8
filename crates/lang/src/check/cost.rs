//! What a model costs: exact parameter count (timm's), multiply-accumulates per image, and
//! an estimate of training memory.

use crate::ir::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Trainable parameters, counted as timm counts them.
    pub params: u64,
    /// Forward multiply-accumulates per image (what DeiT tables call FLOPs).
    pub macs: u64,
}

impl Cost {
    pub fn of(m: &Model) -> Cost {
        if !m.is_transformer() {
            return Cost::convnet(m);
        }
        let d = m.embed as u64;
        let h = m.mlp_hidden() as u64;
        let c = m.channels as u64;
        let p2 = (m.patch * m.patch) as u64;
        let n = m.patches() as u64;
        let t = m.prefix_tokens() as u64;
        let k = m.classes as u64;
        let s = n + t;
        let qkv_bias = if m.qkv_bias { 3 * d } else { 0 };
        let block = 3 * d * d + qkv_bias + (d * d + d) + (d * h + h) + (h * d + d) + 4 * d;
        let params =
            (c * p2 * d + d) + t * d + s * d + m.depth as u64 * block + 2 * d + t * (d * k + k);
        let block_macs = s * (4 * d * d + 2 * d * h) + 2 * s * s * d;
        let macs = n * c * p2 * d + m.depth as u64 * block_macs + t * d * k;
        Cost { params, macs }
    }

    /// The convnet: 3×3 convolutions C→W, W→W at full size, W→2W, 2W→2W at half size,
    /// each with a bias, and the linear head.
    fn convnet(m: &Model) -> Cost {
        let (c, w, k) = (m.channels as u64, m.width as u64, m.classes as u64);
        let (full, half) = ((m.image * m.image) as u64, (m.image / 2).pow(2) as u64);
        let convs = [
            (c, w, full),
            (w, w, full),
            (w, 2 * w, half),
            (2 * w, 2 * w, half),
        ];
        let params = convs.iter().map(|(i, o, _)| 9 * i * o + o).sum::<u64>() + 2 * w * k + k;
        let macs = convs.iter().map(|(i, o, px)| px * 9 * i * o).sum::<u64>() + 2 * w * k;
        Cost { params, macs }
    }
}

/// Bytes of f32 state and activations one training step holds, roughly: weights, gradients,
/// two AdamW moments and the EMA copy, plus the activations backward keeps per block.
pub fn train_memory_bytes(m: &Model, batch: usize, ema: bool) -> u64 {
    let params = Cost::of(m).params;
    let copies = 4 + u64::from(ema);
    if !m.is_transformer() {
        // Per pixel and stage: the im2col matrix (9 × input channels) and two output maps
        // (before and after ReLU) for each convolution.
        let (c, w) = (m.channels as u64, m.width as u64);
        let (full, half) = ((m.image * m.image) as u64, (m.image / 2).pow(2) as u64);
        let acts = full * (9 * (c + w) + 4 * w) + half * (9 * 3 * w + 8 * w);
        return 4 * (params * copies + batch as u64 * acts);
    }
    let (d, h, s) = (m.embed as u64, m.mlp_hidden() as u64, m.tokens() as u64);
    let per_token = 12 * d + 2 * h + 2 * m.heads as u64 * s;
    let acts =
        batch as u64 * (m.depth as u64 * s * per_token + (m.channels * m.image * m.image) as u64);
    4 * (params * copies + acts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Family;

    fn deit(embed: usize, heads: usize, image: usize, distilled: bool) -> Model {
        Model {
            family: Family::Deit,
            patch: 16,
            image,
            channels: 3,
            embed,
            depth: 12,
            heads,
            mlp_ratio: 4.0,
            qkv_bias: true,
            drop_path: 0.1,
            dropout: 0.0,
            distilled,
            classes: 1000,
            width: 32,
        }
    }

    #[test]
    fn convnet_params_and_macs_are_the_closed_form() {
        let m = Model {
            family: Family::Convnet,
            image: 8,
            channels: 1,
            classes: 10,
            width: 32,
            ..deit(0, 0, 8, false)
        };
        let c = Cost::of(&m);
        // Convolutions 1→32, 32→32 at 8×8 and 32→64, 64→64 at 4×4, then the 64→10 head.
        let params = (9 * 32 + 32) + (9 * 32 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 64 + 64);
        assert_eq!(c.params, params + 64 * 10 + 10);
        assert_eq!(c.params, 65_642);
        let macs = 64 * 9 * (32 + 32 * 32) + 16 * 9 * (32 * 64 + 64 * 64) + 64 * 10;
        assert_eq!(c.macs, macs);
    }

    #[test]
    fn parameter_counts_match_timm_for_all_eight_paper_models() {
        let cases = [
            (192, 3, 224, false, 5_717_416),
            (384, 6, 224, false, 22_050_664),
            (768, 12, 224, false, 86_567_656),
            (192, 3, 224, true, 5_910_800),
            (384, 6, 224, true, 22_436_432),
            (768, 12, 224, true, 87_338_192),
            (768, 12, 384, false, 86_859_496),
            (768, 12, 384, true, 87_630_032),
        ];
        for (d, h, img, dist, want) in cases {
            assert_eq!(
                Cost::of(&deit(d, h, img, dist)).params,
                want,
                "D={d} img={img} dist={dist}"
            );
        }
    }

    #[test]
    fn macs_are_within_one_percent_of_timm_published_gmacs() {
        // timm's benchmark CSV (infer_gmacs): Ti 1.26, S 4.61, B 17.58, B-384 55.54.
        for (d, h, img, gmacs) in [
            (192, 3, 224, 1.26),
            (384, 6, 224, 4.61),
            (768, 12, 224, 17.58),
            (768, 12, 384, 55.54),
        ] {
            let ours = Cost::of(&deit(d, h, img, false)).macs as f64 / 1e9;
            assert!(
                (ours - gmacs).abs() / gmacs < 0.01,
                "D={d} img={img}: {ours} vs {gmacs}"
            );
        }
    }
}
