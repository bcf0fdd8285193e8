//! timm's RegNet `Bottleneck`: conv1 (1×1, BN, ReLU) → conv2 (grouped 3×3, stride s, BN,
//! ReLU) → squeeze-excitation → conv3 (1×1, BN) → + shortcut (identity, or a 1×1 stride-s
//! conv with BN when the shape changes) → ReLU.

use dfdx::prelude::*;

use super::conv::{ConvBn, Map};
use super::se::SqueezeExcite;

/// One bottleneck block, BatchNorms folded.
#[derive(Debug, Clone)]
pub struct Bottleneck<Dev: Device<f32>> {
    pub conv1: ConvBn<Dev>,
    pub conv2: ConvBn<Dev>,
    pub se: Option<SqueezeExcite<Dev>>,
    pub conv3: ConvBn<Dev>,
    pub downsample: Option<ConvBn<Dev>>,
}

impl<Dev: Device<f32>> Bottleneck<Dev> {
    /// `(B, H, W, I)` → `(B, H', W', O)`.
    pub fn forward(&self, x: Map<Dev>) -> Result<Map<Dev>, Dev::Err> {
        let shortcut = match &self.downsample {
            Some(d) => d.forward(&x)?, // (B, H', W', O)
            None => x.clone(),         // (B, H, W, O)
        };
        let y = relu(self.conv1.forward(&x)?)?; // (B, H, W, O)
        let y = relu(self.conv2.forward(&y)?)?; // (B, H', W', O)
        let y = match &self.se {
            Some(se) => se.forward(y)?,
            None => y,
        };
        let y = self.conv3.forward(&y)?; // (B, H', W', O)
        let x = y.x.try_add(shortcut.x)?.try_relu()?; // (B·H'·W', O)
        Ok(Map { x, ..y })
    }
}

/// ReLU on a map's values.
pub fn relu<Dev: Device<f32>>(m: Map<Dev>) -> Result<Map<Dev>, Dev::Err> {
    Ok(Map {
        x: m.x.try_relu()?,
        ..m
    })
}
