//! `cuda/residual.cu` (the sublayer's join `y = x + s_b·h` and its backward) against the
//! CPU's fused sublayer (`fused::residual`), and the GPU sublayer's stochastic-depth draw
//! (the `drop_path_scales` plan) against the host's ([`DropPath::scales`]).
//!
//! The CPU side runs the real `residual` op with a stand-in branch that outputs a fixed `h`
//! and records the gradient it is handed (`s_b·dy`), its own input gradient 0: so the CPU's
//! output is its join, x's gradient is `dy` (LayerNorm adds zeros), and the branch's is
//! `s_b·dy`. The same products and sums in the same order on both sides: bit for bit.

use std::cell::RefCell;
use std::rc::Rc;

use super::values;
use crate::device::DropPath;
use crate::fused::residual::{residual, Branch, BranchBackward};
use deitc_kernels::sim;
use dfdx::nn::modules::LayerNorm1D;
use dfdx::prelude::*;

/// A branch that outputs `h` whatever its input, and keeps the gradient its backward gets.
struct Fixed {
    h: Vec<f32>,
    seen: Rc<RefCell<Vec<f32>>>,
}

impl Branch for Fixed {
    fn run(self, x: Vec<f32>, _rows: usize, keep: bool) -> (Vec<f32>, Option<BranchBackward>) {
        let (n, seen) = (x.len(), self.seen);
        let backward: BranchBackward = Box::new(move |g, _| {
            *seen.borrow_mut() = g.to_vec();
            Ok(vec![0.0; n])
        });
        (self.h, keep.then_some(backward))
    }
}

/// The CPU sublayer's join on `x`, `h (b, t, D)` with `scales (b,)`, and `dy`: its output,
/// x's gradient and the branch's gradient.
fn cpu<const D: usize>(
    (b, t): (usize, usize),
    x: &[f32],
    h: &[f32],
    scales: Option<Vec<f32>>,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let dev = Cpu::seed_from_u64(3);
    let norm: LayerNorm1D<D, f32, Cpu> = LayerNorm1D {
        gamma: dev.sample_normal(),
        beta: dev.sample_normal(),
        epsilon: 1e-6,
    };
    let shape = (b, t, Const::<D>);
    let x = dev.tensor_from_vec(x.to_vec(), shape); // (B, T, D)
    let w = dev.tensor_from_vec(dy.to_vec(), shape); // (B, T, D)
    let seen = Rc::new(RefCell::new(Vec::new()));
    let branch = Fixed {
        h: h.to_vec(),
        seen: seen.clone(),
    };
    let y = residual(&norm, x.leaky_trace(), scales, branch).expect("cpu");
    let out = y.as_vec();
    let grads = (y * w).sum().backward();
    let dh = seen.borrow().clone();
    (out, grads.get(&x).as_vec(), dh)
}

/// The join on `(b, t, D)` at stochastic-depth `drop` (none: no scales), the simulator's
/// against the CPU's, forward and (accumulating) backward, bit for bit.
fn check<const D: usize>(b: usize, t: usize, drop: Option<DropPath>) {
    let n = b * t * D;
    let what = format!("({b}, {t}, {D}), {drop:?}");
    let (x, h, dy) = (values(n, 61, 3.0), values(n, 62, 2.0), values(n, 63, 1.0));
    let scales = drop.map(|d| d.scales::<f32>(b)); // (B,)
    let (y_cpu, dx_cpu, dh_cpu) = cpu::<D>((b, t), &x, &h, scales.clone(), &dy);
    let y = sim::residual_add_forward(&x, (&h, None), scales.as_deref(), t * D).expect("sim");
    assert_eq!(y, y_cpu, "y {what}");
    // With the branch's bias left to the join: the join of `h + bias`, bit for bit.
    let bias = values(D, 66, 1.0);
    let biased: Vec<f32> = h
        .chunks(D)
        .flat_map(|row| row.iter().zip(&bias).map(|(h, b)| h + b))
        .collect();
    let want =
        sim::residual_add_forward(&x, (&biased, None), scales.as_deref(), t * D).expect("sim");
    let got =
        sim::residual_add_forward(&x, (&h, Some(&bias)), scales.as_deref(), t * D).expect("sim");
    assert_eq!(got, want, "y with the bias {what}");
    // Both gradients add into what they hold.
    let (dx0, dh0) = (values(n, 64, 1.0), values(n, 65, 1.0));
    let (mut dx, mut dh) = (dx0.clone(), dh0.clone());
    sim::residual_add_backward(&dy, scales.as_deref(), &mut dx, &mut dh, t * D).expect("sim");
    let plus = |a: &[f32], b: &[f32]| -> Vec<f32> { a.iter().zip(b).map(|(a, b)| a + b).collect() };
    assert_eq!(dx, plus(&dx0, &dx_cpu), "dx {what}");
    assert_eq!(dh, plus(&dh0, &dh_cpu), "dh {what}");
}

#[test]
fn the_join_is_the_cpu_sublayers_bit_for_bit() {
    // A dropped and a kept sample at this seed (checked), a batch of 1, and sizes that are
    // not multiples of a block of 256 threads.
    let drop = DropPath::new(0.5, 11);
    let s = drop.expect("rate > 0").scales::<f32>(6);
    assert!(s.contains(&0.0) && s.contains(&2.0), "{s:?}");
    for drop in [None, drop] {
        check::<12>(6, 7, drop);
        check::<13>(1, 5, drop);
        check::<37>(3, 197, drop);
    }
    check::<12>(1, 9, DropPath::new(0.25, 4));
}

#[test]
fn a_dropped_sample_passes_only_x_and_gets_no_branch_gradient() {
    let (b, t, d) = (2, 3, 5);
    let (x, h, dy) = (
        values(30, 71, 1.0),
        values(30, 72, 1.0),
        values(30, 73, 1.0),
    );
    let scale = [0.0, 4.0];
    let y = sim::residual_add_forward(&x, (&h, None), Some(&scale), t * d).expect("sim");
    assert_eq!(y[..15], x[..15]);
    let (mut dx, mut dh) = (vec![0.0; 30], vec![0.0; 30]);
    sim::residual_add_backward(&dy, Some(&scale), &mut dx, &mut dh, t * d).expect("sim");
    assert_eq!(dx, dy);
    assert!(dh[..15].iter().all(|&v| v == 0.0));
    let want: Vec<f32> = dy[15..].iter().map(|g| g * 4.0).collect();
    assert_eq!(dh[15..], want[..]);
    assert_eq!(y.len(), b * t * d);
}

#[test]
fn the_planned_draw_is_the_hosts_bit_for_bit() {
    // The launch the GPU sublayer runs (`plan::drop_path_scales`), against the host draw.
    for (seed, rate, batch) in [
        (0, 0.1, 1),
        (7, 0.25, 300),
        (u64::MAX, 0.5, 64),
        (5, 0.9, 33),
    ] {
        let d = DropPath::new(rate, seed).expect("rate > 0");
        let gpu = sim::drop_path_scales_planned(seed, rate, batch).expect("sim");
        assert_eq!(gpu, d.scales::<f32>(batch), "seed {seed}, rate {rate}");
    }
}
