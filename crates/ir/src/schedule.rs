//! `schedule { … }`

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    Cosine,
    Step,
    Constant,
}

/// How often the learning rate is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleUnit {
    /// Once per epoch, as the official code (`step(epoch)` after each epoch).
    Epochs,
    /// Every optimizer step.
    Steps,
}

/// A length of training: `300 epochs`, `20k steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    Epochs(u64),
    Steps(u64),
}

impl Duration {
    /// In optimizer steps, given the steps in one epoch.
    pub fn steps(self, steps_per_epoch: u64) -> u64 {
        match self {
            Duration::Epochs(e) => e * steps_per_epoch,
            Duration::Steps(s) => s,
        }
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Duration::Epochs(1) => write!(f, "1 epoch"),
            Duration::Epochs(e) => write!(f, "{e} epochs"),
            Duration::Steps(1) => write!(f, "1 step"),
            Duration::Steps(s) => write!(f, "{s} steps"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub length: Duration,
    pub warmup: Duration,
    pub warmup_lr: f64,
    pub min_lr: f64,
    pub unit: ScheduleUnit,
    /// Step schedule: decay every …
    pub decay_every: Duration,
    /// Step schedule: multiply by …
    pub decay_rate: f64,
}
