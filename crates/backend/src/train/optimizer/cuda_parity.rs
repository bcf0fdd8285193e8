//! The CUDA optimizer kernels (`deitc-kernels`' `cuda/optimizer.cu`), run by its CPU
//! simulator with the launch configurations the GPU uses, against the CPU host path
//! ([`super::host`]): several steps of AdamW and of SGD with momentum, with and without
//! global-norm clipping, over parameters of both weight-decay groups concatenated into one
//! flat buffer (with a decay mask), and the model EMA against dfdx's `axpy` (what
//! `ModelEMA` runs per tensor).
//!
//! Tolerances. The host path rounds its AdamW/SGD intermediates (m, v, √v/√bc₂ + ε, the
//! update) from f64 and sums Σg² in f64; the kernels run the same operations in the same
//! order in f32, with the step's constants computed in f64 by the host and rounded once
//! ([`AdamwArgs`]). Each f32 operation adds at most half an ulp (6e-8 relative) where f64
//! adds ~nothing, so a step differs by a few roundings of each value: four steps must stay
//! under `crate::fused::tests::close`'s 1e-5 of the tensor's scale and, tighter, under 1e-6
//! of it (≈1.4e-7 seen; the tests print the largest difference). Σg² of non-negative terms
//! is summed in f32 along at most ~40 sequential additions (16 per thread, 10 levels of the
//! block's tree, the finish's partials and its tree) against f64: ≤ 40·6e-8 ≈ 2.4e-6
//! relative, checked at 1e-5; the clip factor ∝ 1/√Σg² inherits half of that. The EMA is
//! the same f32 expression as dfdx's CPU `axpy` (no f64 anywhere), so it is checked at 1e-6
//! (it is exact in the simulator; the GPU may fuse a multiply-add).

use super::device::tests::cfg;
use super::host::{adamw, sgd, sum_squares};
use super::{Moments, Optimizer};
use crate::fused::cuda_parity::values;
use crate::fused::tests::close;
use crate::ir::OptimizerKind;
use deitc_kernels::launch::{AdamwArgs, EmaArgs, SgdArgs};
use deitc_kernels::sim::{self, SimError};
use dfdx::prelude::*;

/// The parameters, `(elements, decayed)`: one spanning two partial-sum blocks, sizes that
/// are not multiples of a block's 256 threads, and both decay groups interleaved.
const PARAMS: &[(usize, bool)] = &[(4500, true), (37, false), (1000, true), (3, false)];

/// The largest |a − b| / (|b| + max|b|): the difference relative to `b`'s scale, the
/// measure `close` bounds.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (y.abs() + scale).max(f32::MIN_POSITIVE))
        .fold(0.0, f32::max)
}

/// One optimizer's run: `steps` steps of both paths from the same parameters and
/// gradients, comparing Σg², the clip factor, the parameters and the moments each step.
fn run(kind: OptimizerKind, clip_grad: Option<f64>, steps: u64) {
    let c = cfg(kind, clip_grad);
    let opt = Optimizer::<Cpu>::new(&c);
    let mut cpu_p: Vec<Vec<f32>> = PARAMS
        .iter()
        .enumerate()
        .map(|(i, &(n, _))| values(n, 1 + i as u64, 1.0))
        .collect();
    let mut cpu_s = vec![Moments::default(); PARAMS.len()];
    let mut p = cpu_p.concat(); // (n,)
    let total = p.len();
    let (mut m, mut v) = (vec![0.0; total], vec![0.0; total]);
    let mask: Vec<f32> = PARAMS
        .iter()
        .flat_map(|&(n, d)| std::iter::repeat_n(if d { 1.0 } else { 0.0 }, n))
        .collect();
    let mut worst = 0.0f32;
    for t in 1..=steps {
        let lr = c.lr * t as f64 / steps as f64; // a warm-up: new constants every step
        let g: Vec<Vec<f32>> = PARAMS
            .iter()
            .enumerate()
            .map(|(i, &(n, _))| values(n, 100 * t + i as u64, 2.0))
            .collect();
        // The host path: Σg² per parameter in f64, in order, then the clip factor.
        let sum: f64 = g.iter().map(|g| sum_squares(g)).sum();
        let scale = opt.clip_scale(sum.sqrt());
        let g_flat = g.concat();
        let gn = sim::grad_norm(&g_flat, clip_grad.map(|c| c as f32)).expect("sim");
        let what = format!("{kind:?} clip {clip_grad:?} step {t}");
        assert!(
            (f64::from(gn.sum_squares) - sum).abs() <= 1e-5 * sum,
            "{what}: Σg² {} vs {sum}",
            gn.sum_squares
        );
        assert!(
            (f64::from(gn.clip) - scale).abs() <= 1e-5 * scale,
            "{what}: clip {} vs {scale}",
            gn.clip
        );
        if clip_grad.is_some() {
            assert!(scale < 1.0, "{what}: the clipping is exercised");
        }
        for (i, &(_, decays)) in PARAMS.iter().enumerate() {
            let wd = if decays { c.weight_decay } else { 0.0 };
            let (pi, gi, si) = (&mut cpu_p[i], &g[i], &mut cpu_s[i]);
            match kind {
                OptimizerKind::Adamw => adamw(pi, gi, scale as f32, si, &c, lr, wd, t),
                OptimizerKind::Sgd => sgd(pi, gi, scale as f32, si, &c, lr, wd),
            }
        }
        match kind {
            OptimizerKind::Adamw => {
                let args = AdamwArgs::new(lr, c.betas, c.eps, c.weight_decay, t);
                sim::adamw_step(
                    &mut p,
                    &g_flat,
                    &mut m,
                    &mut v,
                    Some(&mask),
                    Some(gn.clip),
                    &args,
                )
            }
            OptimizerKind::Sgd => {
                let args = SgdArgs::new(lr, c.momentum, c.weight_decay, t == 1);
                sim::sgd_step(&mut p, &g_flat, &mut m, Some(&mask), Some(gn.clip), &args)
            }
        }
        .expect("sim");
        let cpu_m: Vec<f32> = cpu_s.iter().flat_map(|s| s.m.iter().copied()).collect();
        let cpu_flat = cpu_p.concat();
        close(&format!("{what}: p"), &p, &cpu_flat);
        close(&format!("{what}: m"), &m, &cpu_m);
        worst = worst.max(rel_diff(&p, &cpu_flat)).max(rel_diff(&m, &cpu_m));
        if kind == OptimizerKind::Adamw {
            let cpu_v: Vec<f32> = cpu_s.iter().flat_map(|s| s.v.iter().copied()).collect();
            close(&format!("{what}: v"), &v, &cpu_v);
            worst = worst.max(rel_diff(&v, &cpu_v));
        }
    }
    // Tighter than `close`: a few f32 roundings per step (≈1.4e-7 seen), never 1e-6.
    assert!(worst <= 1e-6, "{kind:?} clip {clip_grad:?}: {worst:e}");
    eprintln!("{kind:?} clip {clip_grad:?}: largest relative difference {worst:e}");
}

#[test]
fn adamw_steps_match_the_host_path() {
    for clip in [None, Some(5.0)] {
        run(OptimizerKind::Adamw, clip, 4);
    }
    let args = AdamwArgs::new(1e-3, [0.9, 0.999], 1e-8, 0.05, 1);
    let (mut p, mut m, mut v) = (vec![0.0; 8], vec![0.0; 8], vec![0.0; 8]);
    let err = sim::adamw_step(&mut p, &[0.0; 7], &mut m, &mut v, None, None, &args);
    assert!(
        matches!(err, Err(SimError::Length { what: "g", .. })),
        "{err:?}"
    );
}

#[test]
fn sgd_steps_match_the_host_path() {
    for clip in [None, Some(5.0)] {
        run(OptimizerKind::Sgd, clip, 4);
    }
    let (mut p, mut m) = (vec![0.0; 8], vec![0.0; 9]);
    let args = SgdArgs::new(0.1, 0.9, 0.0, true);
    let err = sim::sgd_step(&mut p, &[0.0; 8], &mut m, None, None, &args);
    assert!(
        matches!(err, Err(SimError::Length { what: "m", .. })),
        "{err:?}"
    );
}

#[test]
fn a_null_mask_decays_everything_like_a_mask_of_ones() {
    let n = 300;
    let g = values(n, 7, 1.0);
    let step = |mask: Option<&[f32]>| {
        let (mut p, mut m, mut v) = (values(n, 8, 1.0), vec![0.0; n], vec![0.0; n]);
        let args = AdamwArgs::new(1e-2, [0.9, 0.999], 1e-8, 0.05, 1);
        sim::adamw_step(&mut p, &g, &mut m, &mut v, mask, None, &args).expect("sim");
        p
    };
    assert_eq!(step(None), step(Some(&vec![1.0; n])));
    let empty = sim::grad_norm(&[], None).map(|r| r.sum_squares);
    assert_eq!(empty, Ok(0.0), "an empty gradient has norm 0");
    let (mut e, mut m, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let args = AdamwArgs::new(1e-2, [0.9, 0.999], 1e-8, 0.05, 1);
    let err = sim::adamw_step(&mut e, &g, &mut m, &mut v, Some(&[1.0; 3]), None, &args);
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
}

#[test]
fn ema_matches_dfdx_axpy() {
    let dev = Cpu::default();
    let n = 1234;
    let decay = 0.9998;
    let start = values(n, 20, 1.0);
    let mut e = start.clone();
    let mut cpu: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(start, (n,));
    for k in 0..3 {
        let p = values(n, 21 + k, 3.0);
        // What dfdx's ModelEMA::try_ema does to each trainable tensor.
        let pt: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(p.clone(), (n,));
        cpu.axpy(decay, &pt, 1.0 - decay);
        sim::ema_update(&mut e, &p, &EmaArgs::new(decay)).expect("sim");
        let d = rel_diff(&e, &cpu.as_vec());
        assert!(d <= 1e-6, "ema step {k}: relative difference {d:e}");
    }
    let err = sim::ema_update(&mut e, &[0.0; 3], &EmaArgs::new(decay));
    assert!(
        matches!(err, Err(SimError::Length { what: "p", .. })),
        "{err:?}"
    );
}

#[test]
fn one_multi_tensor_launch_is_the_per_tensor_adamw_bit_for_bit() {
    // The CUDA optimizer's one `adamw_multi` launch over a table of tensors (sizes below,
    // one past a chunk's end, one empty), decayed and not, against `adamw_step` per tensor.
    let chunk = deitc_kernels::plan::ADAMW_CHUNK;
    let sizes = [1, 300, chunk + 7, 0];
    let step = 3;
    let args = |wd: f64| AdamwArgs::new(1e-3, [0.9, 0.999], 1e-8, wd, step);
    let start = |n: usize, seed: u64| {
        let v: Vec<f32> = values(n, seed + 3, 0.01).iter().map(|x| x.abs()).collect();
        (
            values(n, seed, 1.0),
            values(n, seed + 1, 0.5),
            values(n, seed + 2, 0.1),
            v,
        )
    };
    for clip in [None, Some(0.5f32)] {
        let mut each = Vec::new();
        let mut multi = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let wd = if i % 2 == 0 { 0.05 } else { 0.0 };
            let (mut p, g, mut m, mut v) = start(n, 10 * i as u64);
            multi.push((p.clone(), g.clone(), m.clone(), v.clone(), args(wd)));
            if n > 0 {
                sim::adamw_step(&mut p, &g, &mut m, &mut v, None, clip, &args(wd)).expect("sim");
            }
            each.push((p, m, v));
        }
        let mut tensors: Vec<sim::HostTensor<'_>> = multi
            .iter_mut()
            .map(|(p, g, m, v, a)| sim::HostTensor {
                p,
                g,
                m,
                v,
                args: *a,
            })
            .collect();
        sim::adamw_multi(&mut tensors, clip, &args(0.05)).expect("sim");
        for (i, ((p, _, m, v, _), (p1, m1, v1))) in multi.iter().zip(&each).enumerate() {
            assert_eq!(
                (p, m, v),
                (p1, m1, v1),
                "tensor {i} (n = {}), clip {clip:?}",
                sizes[i]
            );
        }
    }
}

#[test]
fn one_launch_of_partial_sums_and_of_the_ema_is_the_per_tensor_kernels_bit_for_bit() {
    // `grad_sq_sum_multi` over a table of gradients (one empty, sizes at and past a block's
    // share) writes each tensor's `grad_sq_sum_partial` sums, in order; `ema_multi` is
    // `ema_update` per tensor.
    let per = deitc_kernels::launch::SQ_SUM_PER_BLOCK;
    let sizes = [1, 0, per, 3 * per + 5, 77];
    let grads: Vec<Vec<f32>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| values(n, 40 + i as u64, 2.0))
        .collect();
    let views: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    let multi = sim::grad_sq_sum_multi(&views).expect("sim");
    let mut each = Vec::new();
    for g in &grads {
        each.extend(sim::grad_sq_sum_partials(g).expect("sim"));
    }
    assert_eq!(multi, each);

    let args = EmaArgs::new(0.9998);
    let params: Vec<Vec<f32>> = sizes.iter().map(|&n| values(n, 50, 1.0)).collect();
    let mut by_one: Vec<Vec<f32>> = sizes.iter().map(|&n| values(n, 60, 1.0)).collect();
    let mut by_all = by_one.clone();
    for (e, p) in by_one.iter_mut().zip(&params) {
        if !e.is_empty() {
            sim::ema_update(e, p, &args).expect("sim");
        }
    }
    let mut pairs: Vec<(&mut [f32], &[f32])> = by_all
        .iter_mut()
        .zip(&params)
        .map(|(e, p)| (&mut e[..], &p[..]))
        .collect();
    sim::ema_multi(&mut pairs, &args).expect("sim");
    assert_eq!(by_all, by_one);
}

#[test]
fn a_non_finite_gradient_makes_a_nan_clip_factor_and_no_update() {
    // Σ g² of a gradient holding a NaN or an infinity gives c = NaN (with or without
    // clipping), and every update kernel given c leaves the parameter and its moments as
    // they were: the step is not applied, as the host path does not apply it either.
    let n = 300;
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut g = values(n, 31, 1.0);
        g[17] = bad;
        for max_norm in [None, Some(1.0f32)] {
            let r = sim::grad_norm(&g, max_norm).expect("sim");
            assert!(r.clip.is_nan(), "{bad} with {max_norm:?}: clip {}", r.clip);
            let (p0, m0, v0) = (values(n, 32, 1.0), values(n, 33, 0.1), vec![0.5; n]);
            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            let args = AdamwArgs::new(1e-2, [0.9, 0.999], 1e-8, 0.05, 2);
            sim::adamw_step(&mut p, &g, &mut m, &mut v, None, Some(r.clip), &args).expect("sim");
            assert_eq!((&p, &m, &v), (&p0, &m0, &v0), "adamw_step, {bad}");
            let sgd_args = SgdArgs::new(1e-2, 0.9, 1e-4, false);
            sim::sgd_step(&mut p, &g, &mut m, None, Some(r.clip), &sgd_args).expect("sim");
            assert_eq!((&p, &m), (&p0, &m0), "sgd_step, {bad}");
            let mut tensors = vec![sim::HostTensor {
                p: &mut p,
                g: &g,
                m: &mut m,
                v: &mut v,
                args,
            }];
            sim::adamw_multi(&mut tensors, Some(r.clip), &args).expect("sim");
            assert_eq!((&p, &m, &v), (&p0, &m0, &v0), "adamw_multi, {bad}");
        }
    }
}
