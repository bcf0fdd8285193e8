//! Launch plans of `cuda/residual.cu` (a sublayer's residual join `y = x + s_b·h` and its
//! backward) and of the stochastic-depth draw it scales by (`drop_path_scales` of
//! `cuda/regularization.cu`).

use super::{int, launch, len, optional, Buffer, Launch, Param, PlanError};
use crate::launch as config;

/// The samples of a flat `(B, T, D)` buffer of `n` values with `per_sample` = T·D each
/// (`per_sample` 0 counts as 1), checked.
fn samples(what: &'static str, n: usize, per_sample: usize) -> Result<usize, PlanError> {
    let batch = n / per_sample.max(1);
    if batch * per_sample.max(1) == n {
        Ok(batch)
    } else {
        Err(PlanError::Length {
            what,
            want: batch * per_sample.max(1),
            got: n,
        })
    }
}

/// `drop_path_scales`: stochastic depth's per-sample scales `(batch,)` at `rate`, drawn from
/// `seed` — `1/keep` for a kept sample, 0 for a dropped one, with `keep = 1 − rate` computed
/// here as the CPU computes it — into `scale`, `batch = scale.len()`.
pub fn drop_path_scales<I, O: Buffer>(
    seed: u64,
    rate: f64,
    scale: O,
) -> Result<Launch<I, O>, PlanError> {
    let batch = scale.len();
    launch(
        "drop_path_scales",
        config::per_element(batch),
        vec![
            Param::U64(seed),
            Param::F64(1.0 - rate),
            Param::Out(scale),
            Param::I32(int("batch", batch)?),
        ],
    )
}

/// `residual_add_forward`: `y = x + s_b·h` over `x`, `h`, `y` `(B, T, D)` flat, sample b
/// the `per_sample` = T·D values from `b·per_sample`, with `scale` `(B,)` (none: 1).
pub fn residual_add_forward<I: Buffer, O: Buffer>(
    x: I,
    (h, bias): (I, Option<I>),
    scale: Option<I>,
    y: O,
    per_sample: usize,
) -> Result<Launch<I, O>, PlanError> {
    let n = x.len();
    let batch = samples("x", n, per_sample)?;
    len("h", &h, n)?;
    // The bias's columns divide a sample (rows of `cols` values); none: 1.
    let cols = bias.as_ref().map_or(1, |b| b.len());
    if cols == 0 || !per_sample.max(1).is_multiple_of(cols) {
        return Err(PlanError::Length {
            what: "bias",
            want: per_sample,
            got: cols,
        });
    }
    if let Some(s) = &scale {
        len("scale", s, batch)?;
    }
    len("y", &y, n)?;
    launch(
        "residual_add_forward",
        config::per_element(n),
        vec![
            Param::In(x),
            Param::In(h),
            optional(bias),
            optional(scale),
            Param::Out(y),
            Param::I32(int("n", n)?),
            Param::I32(int("per sample", per_sample.max(1))?),
            Param::I32(int("cols", cols)?),
        ],
    )
}

/// The gradients a residual backward adds into: the residual input's `dx` and the branch
/// output's `dh`, both `(B, T, D)` flat.
pub struct ResidualGrads<O> {
    pub dx: O,
    pub dh: O,
}

/// `residual_add_backward`: `dx += dy`, `dh += s_b·dy` over `(B, T, D)` flat (`scale` `(B,)`,
/// none: 1), sample b the `per_sample` values from `b·per_sample`.
pub fn residual_add_backward<I: Buffer, O: Buffer>(
    dy: I,
    scale: Option<I>,
    grads: ResidualGrads<O>,
    per_sample: usize,
) -> Result<Launch<I, O>, PlanError> {
    let n = dy.len();
    let batch = samples("dy", n, per_sample)?;
    if let Some(s) = &scale {
        len("scale", s, batch)?;
    }
    len("dx", &grads.dx, n)?;
    len("dh", &grads.dh, n)?;
    launch(
        "residual_add_backward",
        config::per_element(n),
        vec![
            Param::In(dy),
            optional(scale),
            Param::Out(grads.dx),
            Param::Out(grads.dh),
            Param::I32(int("n", n)?),
            Param::I32(int("per sample", per_sample.max(1))?),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FAMILIES;

    #[test]
    fn residual_plans_check_their_lengths_and_name_listed_kernels() {
        let (x, s) = (vec![0.0f32; 12], vec![0.0f32; 3]);
        let mut y = [0.0f32; 12];
        let h = (&x[..], None);
        let l = residual_add_forward(&x[..], h, Some(&s[..]), &mut y[..], 4).expect("plan");
        assert_eq!(l.params.len(), 8);
        assert!(FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel)));
        let err =
            residual_add_forward(&x[..], h, Some(&s[..2]), &mut y[..], 4).expect_err("short scale");
        assert!(matches!(err, PlanError::Length { what: "scale", .. }));
        let err = residual_add_forward(&x[..], h, None, &mut y[..], 5).expect_err("partial sample");
        assert!(matches!(err, PlanError::Length { what: "x", .. }));
        // A bias whose columns do not divide a sample is refused.
        let b = [0.0f32; 3];
        let err = residual_add_forward(&x[..], (&x[..], Some(&b[..])), None, &mut y[..], 4)
            .expect_err("bias of 3 in samples of 4");
        assert!(matches!(err, PlanError::Length { what: "bias", .. }));
        let b = [0.0f32; 2];
        residual_add_forward(&x[..], (&x[..], Some(&b[..])), None, &mut y[..], 4).expect("plan");
        let (mut dx, mut dh) = (vec![0.0f32; 12], vec![0.0f32; 11]);
        let grads = ResidualGrads {
            dx: &mut dx[..],
            dh: &mut dh[..],
        };
        let err = residual_add_backward(&x[..], None, grads, 4).expect_err("short dh");
        assert!(matches!(err, PlanError::Length { what: "dh", .. }));
        let mut scale = [0.0f32; 5];
        let l = drop_path_scales::<&[f32], _>(7, 0.25, &mut scale[..]).expect("plan");
        assert!(FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel)));
        assert!(matches!(l.params[1], Param::F64(k) if k == 0.75));
    }
}
