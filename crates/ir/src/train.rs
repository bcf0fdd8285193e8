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

/// How often a run writes `checkpoint.safetensors` (`train.checkpoint_every`): every so many
/// epochs (at the epoch's end) or optimizer steps (after the step, mid-epoch included), or
/// after so much wall-clock time since the last checkpoint (after the step that reaches it).
///
/// Serialised like [`Duration`] (`epochs(1)`, `steps(500)`), plus `seconds(1800)`, so the
/// recipes resolved before the time variant existed read back, and hash, unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Epochs(u64),
    Steps(u64),
    /// Seconds of wall-clock time (`90 s`, `30 min`, `2 h` in a recipe).
    Seconds(u64),
}

impl From<Duration> for Every {
    fn from(d: Duration) -> Self {
        match d {
            Duration::Epochs(e) => Every::Epochs(e),
            Duration::Steps(s) => Every::Steps(s),
        }
    }
}

impl std::fmt::Display for Every {
    /// As a recipe writes it: `1 epoch`, `500 steps`, `30 min`, `2 h`, `90 s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Every::Epochs(e) => Duration::Epochs(e).fmt(f),
            Every::Steps(s) => Duration::Steps(s).fmt(f),
            Every::Seconds(s) if s > 0 && s.is_multiple_of(3600) => write!(f, "{} h", s / 3600),
            Every::Seconds(s) if s > 0 && s.is_multiple_of(60) => write!(f, "{} min", s / 60),
            Every::Seconds(s) => write!(f, "{s} s"),
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
    pub checkpoint_every: Every,
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
            checkpoint_every: Every::Epochs(1),
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
    fn checkpoint_every_reads_old_durations_and_writes_times_by_their_largest_unit() {
        // A recipe resolved when `checkpoint_every` was a `Duration` reads back unchanged
        // (so the hash of an old run's `resolved.ron` still matches for `--resume`).
        let mut t = train(Precision::Fp32);
        let text = ron::to_string(&t).expect("serialise");
        assert!(text.contains("checkpoint_every:epochs(1)"), "{text}");
        t.checkpoint_every = Every::Seconds(1800);
        let text = ron::to_string(&t).expect("serialise");
        assert!(text.contains("checkpoint_every:seconds(1800)"), "{text}");
        assert_eq!(ron::from_str::<Train>(&text).expect("parse"), t);
        let shown: Vec<String> = [
            Every::Seconds(7200),
            Every::Seconds(1800),
            Every::Seconds(90),
            Every::Steps(1),
            Every::Epochs(2),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(shown, ["2 h", "30 min", "90 s", "1 step", "2 epochs"]);
        assert_eq!(Every::from(Duration::Steps(5)), Every::Steps(5));
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
