//! Squeeze-and-excitation (timm's `SEModule`): a per-image channel gate from the mean over
//! pixels, `x · σ(fc2(relu(fc1(mean(x)))))`, where `fc1`, `fc2` are 1×1 convolutions with
//! bias (here matmuls on the pooled vector).

use dfdx::prelude::*;

use super::conv::Map;

/// A 1×1 convolution with bias on vectors: `(B, I)` → `(B, O)`.
#[derive(Debug, Clone)]
pub struct Dense<Dev: Device<f32>> {
    /// `(I, O)` (PyTorch's `[O, I, 1, 1]` or `[O, I]`, transposed).
    pub weight: Tensor<(usize, usize), f32, Dev>,
    /// `(O,)`.
    pub bias: Tensor<(usize,), f32, Dev>,
}

impl<Dev: Device<f32>> Dense<Dev> {
    /// From PyTorch's `[O, I, …]` weight (row-major) and `[O]` bias.
    pub fn new(dev: &Dev, weight: &[f32], bias: &[f32]) -> Result<Self, Dev::Err> {
        let o = bias.len();
        let i = weight.len() / o.max(1);
        let mut t = vec![0.0; i * o];
        for (r, row) in weight.chunks_exact(i.max(1)).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                t[c * o + r] = v;
            }
        }
        Ok(Dense {
            weight: dev.try_tensor_from_vec(t, (i, o))?,
            bias: dev.try_tensor_from_vec(bias.to_vec(), (o,))?,
        })
    }

    /// `(B, I)` → `(B, O)`.
    pub fn forward(
        &self,
        x: Tensor<(usize, usize), f32, Dev>,
    ) -> Result<Tensor<(usize, usize), f32, Dev>, Dev::Err> {
        let (b, _) = *x.shape();
        let o = self.bias.shape().0;
        let bias = self
            .bias
            .clone()
            .try_broadcast_like::<_, Axis<0>>(&(b, o))?; // (B, O)
        x.try_matmul(self.weight.clone())?.try_add(bias) // (B, O)
    }
}

/// Global average pooling: `(B·H·W, C)` → `(B, C)`.
pub fn mean_pixels<Dev: Device<f32>>(
    m: &Map<Dev>,
) -> Result<Tensor<(usize, usize), f32, Dev>, Dev::Err> {
    let c = m.channels();
    m.x.clone()
        .try_reshape_like(&(m.b, m.h * m.w, c))? // (B, H·W, C)
        .try_mean::<(usize, usize), Axis<1>>() // (B, C)
}

/// timm's `SEModule`: `fc1` C → R, ReLU, `fc2` R → C, sigmoid gate.
#[derive(Debug, Clone)]
pub struct SqueezeExcite<Dev: Device<f32>> {
    pub fc1: Dense<Dev>,
    pub fc2: Dense<Dev>,
}

impl<Dev: Device<f32>> SqueezeExcite<Dev> {
    /// `(B, H, W, C)` → `(B, H, W, C)`, each image's channels scaled by its gate.
    pub fn forward(&self, m: Map<Dev>) -> Result<Map<Dev>, Dev::Err> {
        let c = m.channels();
        let hw = m.h * m.w;
        let s = mean_pixels(&m)?; // (B, C)
        let s = self.fc1.forward(s)?.try_relu()?; // (B, R)
        let gate = self.fc2.forward(s)?.try_sigmoid()?; // (B, C)
        let gate = gate.try_broadcast_like::<_, Axis<1>>(&(m.b, hw, c))?; // (B, H·W, C)
        let x = m.x.try_reshape_like(&(m.b, hw, c))?.try_mul(gate)?; // (B, H·W, C)
        Ok(Map {
            x: x.try_reshape_like(&(m.b * hw, c))?, // (B·H·W, C)
            ..m
        })
    }
}
