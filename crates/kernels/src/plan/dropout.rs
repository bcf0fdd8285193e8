//! Launch plans of dropout's kernels in `cuda/regularization.cu`: `dropout_forward`,
//! `y = x ⊙ mask`, and `dropout_backward`, `dx += dy ⊙ mask`, over a flat buffer of `n`
//! values, the mask drawn from `(seed, rate)` in each launch (element i takes SplitMix64's
//! (i+1)-th output from `seed`), never stored.

use super::{int, launch, len, Buffer, Launch, Param, PlanError};
use crate::launch as config;

/// `dropout_forward`: `y = x ⊙ mask` over `x`, `y` `(n,)` at `rate` from `seed` — kept
/// elements times `1/keep`, dropped ones times 0, with `keep = 1 − rate` computed here as
/// the CPU computes it.
pub fn dropout_forward<I: Buffer, O: Buffer>(
    x: I,
    y: O,
    seed: u64,
    rate: f64,
) -> Result<Launch<I, O>, PlanError> {
    let n = x.len();
    len("y", &y, n)?;
    launch(
        "dropout_forward",
        config::per_element(n),
        vec![
            Param::In(x),
            Param::Out(y),
            Param::I32(int("n", n)?),
            Param::U64(seed),
            Param::F64(1.0 - rate),
        ],
    )
}

/// `dropout_backward`: `dx += dy ⊙ mask` over `dy`, `dx` `(n,)`, the forward's mask drawn
/// again from the same `seed` and `rate`.
pub fn dropout_backward<I: Buffer, O: Buffer>(
    dy: I,
    dx: O,
    seed: u64,
    rate: f64,
) -> Result<Launch<I, O>, PlanError> {
    let n = dy.len();
    len("dx", &dx, n)?;
    launch(
        "dropout_backward",
        config::per_element(n),
        vec![
            Param::In(dy),
            Param::Out(dx),
            Param::I32(int("n", n)?),
            Param::U64(seed),
            Param::F64(1.0 - rate),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FAMILIES;

    #[test]
    fn dropout_plans_check_their_lengths_and_name_listed_kernels() {
        let x = vec![0.0f32; 300];
        let mut y = vec![0.0f32; 300];
        let l = dropout_forward(&x[..], &mut y[..], 9, 0.25).expect("plan");
        assert_eq!(l.params.len(), 5);
        assert!(FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel)));
        assert!(matches!(l.params[4], Param::F64(k) if k == 0.75));
        assert_eq!(l.config, config::per_element(300));
        let err = dropout_forward(&x[..], &mut y[..299], 9, 0.25).expect_err("short y");
        assert!(matches!(err, PlanError::Length { what: "y", .. }));
        let l = dropout_backward(&x[..], &mut y[..], 9, 0.25).expect("plan");
        assert!(FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel)));
        let err = dropout_backward(&x[1..], &mut y[..], 9, 0.25).expect_err("long dx");
        assert!(matches!(err, PlanError::Length { what: "dx", .. }));
    }
}
