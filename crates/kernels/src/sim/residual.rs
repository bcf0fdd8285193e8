//! The simulator's launches of `cuda/residual.cu`: a sublayer's residual join
//! `y = x + s_b·h` over tokens `(B, T, D)` flat, sample b the `per_sample` = T·D values from
//! `b·per_sample`, and its backward; and the stochastic-depth draw the GPU sublayer runs
//! before it, by its plan.

use super::{run, SimError};
use crate::plan::{self, ResidualGrads};

/// `residual_add_forward`: returns `y = x + s_b·(h + bias)` (`scale` `(B,)`, none: 1;
/// `bias` per column, none: 0).
pub fn residual_add_forward(
    x: &[f32],
    (h, bias): (&[f32], Option<&[f32]>),
    scale: Option<&[f32]>,
    per_sample: usize,
) -> Result<Vec<f32>, SimError> {
    let mut y = vec![0.0; x.len()];
    run(plan::residual_add_forward(
        x,
        (h, bias),
        scale,
        &mut y[..],
        per_sample,
    ))?;
    Ok(y)
}

/// `residual_add_backward`: `dx += dy`, `dh += s_b·dy` (`scale` `(B,)`, none: 1), both
/// accumulating into what they hold.
pub fn residual_add_backward(
    dy: &[f32],
    scale: Option<&[f32]>,
    dx: &mut [f32],
    dh: &mut [f32],
    per_sample: usize,
) -> Result<(), SimError> {
    run(plan::residual_add_backward(
        dy,
        scale,
        ResidualGrads { dx, dh },
        per_sample,
    ))
}

/// `drop_path_scales` by its plan (the launch the GPU sublayer runs): the scales of `batch`
/// samples at `rate`, drawn from `seed`.
pub fn drop_path_scales_planned(seed: u64, rate: f64, batch: usize) -> Result<Vec<f32>, SimError> {
    let mut scale = vec![0.0; batch];
    run(plan::drop_path_scales(seed, rate, &mut scale[..]))?;
    Ok(scale)
}
