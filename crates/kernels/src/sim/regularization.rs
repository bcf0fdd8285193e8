//! The simulator's launches of `cuda/regularization.cu`: stochastic depth's per-sample
//! scales, and dropout's forward and backward by their plans ([`crate::plan`]).

use super::{checked, int, run, Arg, SimError};
use crate::{launch, plan};

/// `drop_path_scales`: stochastic depth's scales of `batch` samples at `rate`, drawn from
/// `seed` (`1/(1 − rate)` kept, 0 dropped); `None` when `rate ≤ 0`, as on the CPU.
pub fn drop_path_scales(seed: u64, rate: f64, batch: usize) -> Result<Option<Vec<f32>>, SimError> {
    if rate <= 0.0 {
        return Ok(None);
    }
    let mut scale = vec![0.0; batch];
    checked(
        "drop_path_scales",
        &launch::per_element(batch),
        &mut [
            Arg::U64(seed),
            Arg::F64(1.0 - rate),
            Arg::Out(&mut scale),
            Arg::I32(int("batch", batch)?),
        ],
    )?;
    Ok(Some(scale))
}

/// `dropout_forward` by its plan: returns `y = x ⊙ mask` `(n,)`, the mask of `n` elements at
/// `rate` drawn from `seed` (`1/(1 − rate)` kept, 0 dropped).
pub fn dropout_forward(x: &[f32], seed: u64, rate: f64) -> Result<Vec<f32>, SimError> {
    let mut y = vec![0.0; x.len()];
    run(plan::dropout_forward(x, &mut y[..], seed, rate))?;
    Ok(y)
}

/// `dropout_backward` by its plan: `dx += dy ⊙ mask` `(n,)`, accumulating into what `dx`
/// holds, the forward's mask drawn again from `seed` and `rate`.
pub fn dropout_backward(dy: &[f32], dx: &mut [f32], seed: u64, rate: f64) -> Result<(), SimError> {
    run(plan::dropout_backward(dy, dx, seed, rate))
}
