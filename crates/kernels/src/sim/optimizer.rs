//! The simulator's launches of `cuda/optimizer.cu`: the squared gradient norm and clip factor,
//! AdamW, SGD with momentum and the model EMA, over flat buffers (every parameter
//! concatenated, `(n,)`, the gradient and moments in the same layout).

use super::{checked, int, len, Arg, SimError};
use crate::launch::{self, AdamwArgs, EmaArgs, SgdArgs};

/// What `grad_sq_sum_finish` writes: Σ g² and the clip factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradNorm {
    /// Σ g² over the buffer (f32, per-block partial sums added in order).
    pub sum_squares: f32,
    /// `min(1, max_norm / (‖g‖ + 1e-6))`, or 1 without clipping.
    pub clip: f32,
}

/// `grad_sq_sum_partial` then `grad_sq_sum_finish` over the flat gradient `g` `(n,)`:
/// Σ g² and the clip factor for `max_norm` (`None`: no clipping).
pub fn grad_norm(g: &[f32], max_norm: Option<f32>) -> Result<GradNorm, SimError> {
    let n = g.len();
    let parts = launch::sq_sum_parts(n);
    let mut partial = vec![0.0; parts]; // (parts,)
    checked(
        "grad_sq_sum_partial",
        &launch::sq_sum_partial(n),
        &mut [
            Arg::In(g),
            Arg::I32(int("n", n)?),
            Arg::I32(int("per block", launch::SQ_SUM_PER_BLOCK)?),
            Arg::Out(&mut partial),
        ],
    )?;
    // A negative max_norm is the kernel's "no clipping"; a negative max_norm passed in
    // `Some` gets the same (torch would produce a negative factor).
    let mut out = [0.0f32; 2];
    checked(
        "grad_sq_sum_finish",
        &launch::sq_sum_finish(),
        &mut [
            Arg::In(&partial),
            Arg::I32(int("parts", parts)?),
            Arg::F32(max_norm.unwrap_or(-1.0)),
            Arg::Out(&mut out),
        ],
    )?;
    Ok(GradNorm {
        sum_squares: out[0],
        clip: out[1],
    })
}

/// Checks an optional per-element decay mask against `n`.
fn mask(decay_mask: Option<&[f32]>, n: usize) -> Result<(), SimError> {
    decay_mask.map_or(Ok(()), |d| len("decay_mask", d, n))
}

/// `adamw_step`: one AdamW step of `p` `(n,)` from `g` `(n,)` scaled by `clip` (`None`: 1),
/// updating the moments `m`, `v` `(n,)`; weight decay where `decay_mask` `(n,)` is nonzero
/// (`None`: everywhere).
pub fn adamw_step(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    decay_mask: Option<&[f32]>,
    clip: Option<f32>,
    args: &AdamwArgs,
) -> Result<(), SimError> {
    let n = p.len();
    len("g", g, n)?;
    len("m", m, n)?;
    len("v", v, n)?;
    mask(decay_mask, n)?;
    let clip = clip.map(|c| [c]);
    checked(
        "adamw_step",
        &launch::per_element(n),
        &mut [
            Arg::Out(p),
            Arg::In(g),
            Arg::Out(m),
            Arg::Out(v),
            decay_mask.map_or(Arg::Null, Arg::In),
            clip.as_ref().map_or(Arg::Null, |c| Arg::In(c)),
            Arg::I32(int("n", n)?),
            Arg::F32(args.decay),
            Arg::F32(args.beta1),
            Arg::F32(args.beta2),
            Arg::F32(args.one_minus_beta1),
            Arg::F32(args.one_minus_beta2),
            Arg::F32(args.step_size),
            Arg::F32(args.sqrt_bc2),
            Arg::F32(args.eps),
        ],
    )
}

/// `sgd_step`: one SGD-with-momentum step of `p` `(n,)` from `g` `(n,)` scaled by `clip`
/// (`None`: 1), with the momentum buffer `m` `(n,)`; L2 decay where `decay_mask` `(n,)` is
/// nonzero (`None`: everywhere).
pub fn sgd_step(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    decay_mask: Option<&[f32]>,
    clip: Option<f32>,
    args: &SgdArgs,
) -> Result<(), SimError> {
    let n = p.len();
    len("g", g, n)?;
    len("m", m, n)?;
    mask(decay_mask, n)?;
    let clip = clip.map(|c| [c]);
    checked(
        "sgd_step",
        &launch::per_element(n),
        &mut [
            Arg::Out(p),
            Arg::In(g),
            Arg::Out(m),
            decay_mask.map_or(Arg::Null, Arg::In),
            clip.as_ref().map_or(Arg::Null, |c| Arg::In(c)),
            Arg::I32(int("n", n)?),
            Arg::F32(args.lr),
            Arg::F32(args.weight_decay),
            Arg::F32(args.momentum),
            Arg::I32(i32::from(args.first)),
        ],
    )
}

/// `ema_update`: `e = e·decay + p·(1 − decay)` over `e`, `p` `(n,)`.
pub fn ema_update(e: &mut [f32], p: &[f32], args: &EmaArgs) -> Result<(), SimError> {
    let n = e.len();
    len("p", p, n)?;
    checked(
        "ema_update",
        &launch::per_element(n),
        &mut [
            Arg::Out(e),
            Arg::In(p),
            Arg::I32(int("n", n)?),
            Arg::F32(args.decay),
            Arg::F32(args.one_minus_decay),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_squared_norm_sums_every_block_and_clips() {
        // Three partial blocks, the last one short.
        let n = 2 * launch::SQ_SUM_PER_BLOCK + 37;
        let g: Vec<f32> = (0..n).map(|i| ((i % 13) as f32 - 6.0) / 8.0).collect();
        let want: f64 = g.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let r = grad_norm(&g, None).expect("sim");
        assert!(
            (f64::from(r.sum_squares) - want).abs() <= 1e-6 * want,
            "{r:?} vs {want}"
        );
        assert_eq!(r.clip, 1.0);
        let c = grad_norm(&g, Some(1.0)).expect("sim");
        assert_eq!(c.sum_squares, r.sum_squares, "the same bits every run");
        let want_clip = 1.0 / (want.sqrt() + 1e-6);
        assert!((f64::from(c.clip) - want_clip).abs() <= 1e-6 * want_clip);
        assert_eq!(grad_norm(&g, Some(1e9)).expect("sim").clip, 1.0);
        assert_eq!(grad_norm(&[], Some(1.0)).expect("sim").sum_squares, 0.0);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let (mut p, mut m, mut v) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 3]);
        let args = AdamwArgs::new(1e-3, [0.9, 0.999], 1e-8, 0.05, 1);
        let err = adamw_step(&mut p, &[0.0; 4], &mut m, &mut v, None, None, &args);
        assert!(
            matches!(err, Err(SimError::Length { what: "v", .. })),
            "{err:?}"
        );
        let err = sgd_step(
            &mut p,
            &[0.0; 4],
            &mut m,
            Some(&[1.0; 5]),
            None,
            &SgdArgs::new(0.1, 0.9, 0.0, true),
        );
        assert!(
            matches!(
                err,
                Err(SimError::Length {
                    what: "decay_mask",
                    ..
                })
            ),
            "{err:?}"
        );
        let err = ema_update(&mut p, &[0.0; 2], &EmaArgs::new(0.99));
        assert!(
            matches!(err, Err(SimError::Length { what: "p", .. })),
            "{err:?}"
        );
    }
}
