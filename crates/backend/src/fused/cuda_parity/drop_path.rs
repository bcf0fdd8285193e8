//! `cuda/regularization.cu` against the CPU's stochastic-depth scales: the same bits.

use crate::model::regularization::drop_path_scales;
use deitc_kernels::sim;

#[test]
fn drop_path_scales_are_the_cpus_bit_for_bit() {
    for (seed, rate, batch) in [
        (0, 0.1, 1),
        (7, 0.25, 300),
        (u64::MAX, 0.5, 64),
        (12345, 0.9, 33),
    ] {
        let cpu = drop_path_scales::<f32>(rate, seed, batch);
        let gpu = sim::drop_path_scales(seed, rate, batch).expect("sim");
        assert_eq!(gpu, cpu, "seed {seed}, rate {rate}, batch {batch}");
    }
    assert_eq!(sim::drop_path_scales(3, 0.0, 8), Ok(None));
}
