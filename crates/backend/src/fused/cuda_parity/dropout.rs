//! Dropout's kernels of `cuda/regularization.cu` against the host draw ([`Dropout::mask`])
//! and the composition every other device runs ([`compose::dropout`]): the same bits,
//! forward and backward, for lengths that are not a multiple of a block.

use super::values;
use crate::device::{compose, Dropout};
use deitc_kernels::sim;
use dfdx::prelude::*;

/// Lengths around the 256-thread blocks, none a multiple of one.
const LENGTHS: [usize; 5] = [1, 255, 257, 1000, 4097];

/// The draws each test runs: rates 0.1 and 0.5 (where `keep·2⁵³` is and is not an
/// integer), and a third, from seeds at both ends.
const DRAWS: [(f64, u64); 4] = [(0.1, 0), (0.5, 7), (0.1, u64::MAX), (1.0 / 3.0, 12345)];

/// `a` and `b` hold the same bits (−0 and NaN included).
fn assert_bits(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "{what}: element {i}: {x} vs {y}");
    }
}

/// `x ⊙ mask` on the host.
fn host_forward(x: &[f32], d: Dropout) -> Vec<f32> {
    let mask: Vec<f32> = d.mask(x.len());
    x.iter().zip(&mask).map(|(x, m)| x * m).collect()
}

#[test]
fn dropout_forward_is_the_host_draw_bit_for_bit() {
    for n in LENGTHS {
        for (k, (rate, seed)) in DRAWS.into_iter().enumerate() {
            let d = Dropout { rate, seed };
            let mut x = values(n, 3 + k as u64, 4.0); // (n,)
            x[n / 2] = f32::NAN; // a NaN stays NaN, kept or dropped
            let gpu = sim::dropout_forward(&x, seed, rate).expect("sim");
            assert_bits(&gpu, &host_forward(&x, d), &format!("n {n}, {d:?}"));
        }
    }
}

#[test]
fn dropout_backward_accumulates_the_host_draw_bit_for_bit() {
    for n in LENGTHS {
        for (k, (rate, seed)) in DRAWS.into_iter().enumerate() {
            let d = Dropout { rate, seed };
            let dy = values(n, 11 + k as u64, 2.0); // (n,)
            let dx0 = values(n, 29 + k as u64, 1.0); // (n,): a gradient already there
            let mut gpu = dx0.clone();
            sim::dropout_backward(&dy, &mut gpu, seed, rate).expect("sim");
            let mask: Vec<f32> = d.mask(n);
            let want: Vec<f32> = (0..n).map(|i| dx0[i] + dy[i] * mask[i]).collect();
            assert_bits(&gpu, &want, &format!("n {n}, {d:?}"));
        }
    }
}

#[test]
fn the_composition_is_the_kernels_draw_forward_and_backward() {
    let dev = Cpu::default();
    for n in LENGTHS {
        for (k, (rate, seed)) in DRAWS.into_iter().enumerate() {
            let d = Dropout { rate, seed };
            let x = values(n, 41 + k as u64, 3.0);
            let dy = values(n, 53 + k as u64, 2.0);
            let xt = dev.tensor_from_vec(x.clone(), (n,)); // (n,)
            let y = compose::dropout(xt.leaky_trace(), Some(d)).expect("compose"); // (n,)
            let gpu = sim::dropout_forward(&x, seed, rate).expect("sim");
            assert_bits(&y.as_vec(), &gpu, &format!("forward, n {n}, {d:?}"));
            // Backward from dy into a zero gradient, as the kernel adds into one.
            let w = dev.tensor_from_vec(dy.clone(), (n,)); // (n,)
            let g = (y * w).sum().backward();
            let mut gpu = vec![0.0; n];
            sim::dropout_backward(&dy, &mut gpu, seed, rate).expect("sim");
            assert_bits(
                &g.get(&xt).as_vec(),
                &gpu,
                &format!("backward, n {n}, {d:?}"),
            );
        }
    }
}

#[test]
fn the_mask_follows_row_major_order_of_a_strided_tensor() {
    let dev = Cpu::default();
    let d = Dropout {
        rate: 0.5,
        seed: 99,
    };
    let x: Tensor<Rank2<7, 9>, f32, _> = dev.tensor_from_vec(values(63, 5, 1.0), Rank2::default());
    let xt = x.clone().permute::<Rank2<9, 7>, _>(); // strided (9, 7)
    let contiguous = dev.tensor_from_vec(xt.as_vec(), Rank2::<9, 7>::default()); // (9, 7)
    let strided = compose::dropout(xt, Some(d)).expect("compose").as_vec();
    let want = compose::dropout(contiguous, Some(d))
        .expect("compose")
        .as_vec();
    assert_bits(&strided, &want, "strided");
    assert_eq!(
        compose::dropout(x.clone(), None)
            .expect("identity")
            .as_vec(),
        x.as_vec()
    );
}
