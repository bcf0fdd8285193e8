//! `optimizer { … }`

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adamw,
    Sgd,
}

/// Parameter groups excluded from weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoDecay {
    /// Every bias.
    Bias,
    /// LayerNorm weights and biases.
    Norm,
    PosEmbed,
    ClsToken,
    DistToken,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    /// Peak learning rate, already scaled (e.g. `5e-4 * train.batch / 512`).
    pub lr: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    pub no_decay: Vec<NoDecay>,
    /// Global-norm gradient clipping.
    pub clip_grad: Option<f64>,
}
