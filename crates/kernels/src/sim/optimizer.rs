//! The simulator's launches of `cuda/optimizer.cu`: the squared gradient norm and clip factor,
//! AdamW, SGD with momentum and the model EMA, over flat buffers (every parameter
//! concatenated, `(n,)`, the gradient and moments in the same layout).

use super::{run, run_args, Arg, SimError};
use crate::launch::{self, AdamwArgs, EmaArgs, SgdArgs};
use crate::plan::{self, Flat};

/// What `grad_sq_sum_finish` writes: Σ g² and the clip factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradNorm {
    /// Σ g² over the buffer (f32, per-block partial sums added in order).
    pub sum_squares: f32,
    /// `min(1, max_norm / (‖g‖ + 1e-6))`, or 1 without clipping; NaN when Σ g² is not finite
    /// (every update given it then leaves its buffers as they are).
    pub clip: f32,
}

/// `grad_sq_sum_partial` then `grad_sq_sum_finish` over the flat gradient `g` `(n,)`:
/// Σ g² and the clip factor for `max_norm` (`None`: no clipping; a negative `max_norm` in
/// `Some` gets the same, where torch would produce a negative factor).
pub fn grad_norm(g: &[f32], max_norm: Option<f32>) -> Result<GradNorm, SimError> {
    let mut partial = vec![0.0; launch::sq_sum_parts(g.len())]; // (parts,)
    run(plan::grad_sq_sum_partial(g, &mut partial[..]))?;
    let mut out = [0.0f32; 2];
    run(plan::grad_sq_sum_finish(
        &partial[..],
        max_norm,
        &mut out[..],
    ))?;
    Ok(GradNorm {
        sum_squares: out[0],
        clip: out[1],
    })
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
    let clip = clip.map(|c| [c]);
    let flat = Flat {
        p,
        g,
        decay_mask,
        clip: clip.as_ref().map(|c| &c[..]),
    };
    run(plan::adamw_step(flat, m, v, args))
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
    let clip = clip.map(|c| [c]);
    let flat = Flat {
        p,
        g,
        decay_mask,
        clip: clip.as_ref().map(|c| &c[..]),
    };
    run(plan::sgd_step(flat, m, args))
}

/// `ema_update`: `e = e·decay + p·(1 − decay)` over `e`, `p` `(n,)`.
pub fn ema_update(e: &mut [f32], p: &[f32], args: &EmaArgs) -> Result<(), SimError> {
    run(plan::ema_update(e, p, args))
}

/// One tensor of [`adamw_multi`]: its parameter, gradient and moments `(n,)` on the host, and
/// its step's factors (only `decay` and `step_size` are per tensor).
pub struct HostTensor<'a> {
    pub p: &'a mut [f32],
    pub g: &'a [f32],
    pub m: &'a mut [f32],
    pub v: &'a mut [f32],
    pub args: AdamwArgs,
}

/// `adamw_multi`: one launch updating every tensor of `tensors` in place, from a table of
/// their host addresses built by the plan's `adamw_table` (as the GPU's is from device
/// addresses); the shared constants from `shared`, the clip factor `clip` (`None`: 1).
pub fn adamw_multi(
    tensors: &mut [HostTensor<'_>],
    clip: Option<f32>,
    shared: &AdamwArgs,
) -> Result<(), SimError> {
    let mut list = Vec::with_capacity(tensors.len());
    for t in tensors.iter_mut() {
        let n = t.p.len();
        for (what, len) in [("g", t.g.len()), ("m", t.m.len()), ("v", t.v.len())] {
            if len != n {
                return Err(SimError::Length {
                    what,
                    want: n,
                    got: len,
                });
            }
        }
        list.push(plan::AdamwTensor {
            p: t.p.as_mut_ptr() as u64,
            g: t.g.as_ptr() as u64,
            m: t.m.as_mut_ptr() as u64,
            v: t.v.as_mut_ptr() as u64,
            n,
            args: t.args,
        });
    }
    let table = plan::adamw_table(&list)?;
    let (slots, chunks) = table.bytes.split_at(table.chunks_at);
    let clip = clip.map(|c| [c]);
    // The kernel writes through the table's addresses, which point into `tensors`' slices,
    // borrowed mutably for this whole call; every length was checked above.
    run_args(plan::adamw_multi(
        Arg::InBytes(slots),
        Arg::InBytes(chunks),
        clip.as_ref().map(|c| Arg::In(&c[..])),
        shared,
    ))
}

/// `grad_sq_sum_partial` of one gradient `g` `(n,)`: its partial sums of g², in order.
pub fn grad_sq_sum_partials(g: &[f32]) -> Result<Vec<f32>, SimError> {
    let mut partial = vec![0.0; launch::sq_sum_parts(g.len())]; // (parts,)
    run(plan::grad_sq_sum_partial(g, &mut partial[..]))?;
    Ok(partial)
}

/// `grad_sq_sum_multi`: the partial sums of g² of every gradient of `grads` in one launch,
/// tensor after tensor, from a table of their host addresses (`plan::sum_table`).
pub fn grad_sq_sum_multi(grads: &[&[f32]]) -> Result<Vec<f32>, SimError> {
    let list: Vec<(u64, usize)> = grads.iter().map(|g| (g.as_ptr() as u64, g.len())).collect();
    let table = plan::sum_table(&list)?;
    let (slots, chunks) = table.bytes.split_at(table.chunks_at);
    let mut partial = vec![0.0f32; table.chunks];
    run_args(plan::grad_sq_sum_multi(
        Arg::InBytes(slots),
        Arg::InBytes(chunks),
        Arg::Out(&mut partial),
    ))?;
    Ok(partial)
}

/// `ema_multi`: `e = e·decay + p·(1 − decay)` over every `(e, p)` pair of `pairs` in one
/// launch, from a table of their host addresses (`plan::ema_table`).
pub fn ema_multi(pairs: &mut [(&mut [f32], &[f32])], args: &EmaArgs) -> Result<(), SimError> {
    let mut list = Vec::with_capacity(pairs.len());
    for (e, p) in pairs.iter_mut() {
        if e.len() != p.len() {
            return Err(SimError::Length {
                what: "p",
                want: e.len(),
                got: p.len(),
            });
        }
        list.push((e.as_mut_ptr() as u64, p.as_ptr() as u64, e.len()));
    }
    let table = plan::ema_table(&list)?;
    let (slots, chunks) = table.bytes.split_at(table.chunks_at);
    // The kernel writes through the table's addresses into `pairs`' slices, borrowed mutably
    // for this whole call; every length was checked above.
    run_args(plan::ema_multi(
        Arg::InBytes(slots),
        Arg::InBytes(chunks),
        args,
    ))
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
