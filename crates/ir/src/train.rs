//! `train { … }`: the loop's own settings.

use super::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Cpu,
    Cuda,
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
}
