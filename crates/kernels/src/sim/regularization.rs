//! The simulator's launches of `cuda/regularization.cu`.

use super::{checked, int, Arg, SimError};
use crate::launch;

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
