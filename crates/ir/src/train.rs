//! `train { … }`: the loop's own settings.

use super::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Cpu,
    Cuda,
}

/// The arithmetic a run trains in (`train.precision`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Strict fp32 everywhere.
    #[default]
    Fp32,
    /// fp32 storage, with TF32 tensor-core matrix products on CUDA (fp32 accumulation).
    Tf32,
    /// bf16 activations and matrix-product inputs; fp32 master weights, optimizer state,
    /// LayerNorm statistics, softmax and losses; no loss scaling.
    Bf16,
}

impl Precision {
    /// The name a recipe writes: `fp32`, `tf32`, `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Train {
    /// Global batch (repeats included, as the paper counts it).
    pub batch: usize,
    pub seed: u64,
    /// EMA decay per optimizer step; none disables the EMA.
    pub ema: Option<f64>,
    /// Also evaluate the EMA weights.
    pub ema_eval: bool,
    pub eval_every: Duration,
    pub checkpoint_every: Duration,
    /// Run directories go under this folder.
    pub output: String,
    pub device: Device,
    /// Absent from recipes resolved before the field existed: fp32.
    #[serde(default)]
    pub precision: Precision,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(precision: Precision) -> Train {
        Train {
            batch: 64,
            seed: 0,
            ema: None,
            ema_eval: false,
            eval_every: Duration::Epochs(1),
            checkpoint_every: Duration::Epochs(1),
            output: "runs".into(),
            device: Device::Cpu,
            precision,
        }
    }

    #[test]
    fn precision_round_trips_through_ron_by_its_recipe_name() {
        for p in [Precision::Fp32, Precision::Tf32, Precision::Bf16] {
            let t = train(p);
            let text = ron::to_string(&t).expect("serialise");
            assert!(text.contains(&format!("precision:{}", p.name())), "{text}");
            assert_eq!(ron::from_str::<Train>(&text).expect("parse"), t);
        }
    }

    #[test]
    fn a_train_block_resolved_before_precision_existed_reads_as_fp32() {
        let text = ron::to_string(&train(Precision::Fp32)).expect("serialise");
        let old = text.replace(",precision:fp32", "");
        assert!(!old.contains("precision"), "{old}");
        let t: Train = ron::from_str(&old).expect("parse");
        assert_eq!(t.precision, Precision::Fp32);
    }
}
