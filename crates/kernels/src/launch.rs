//! Launch configurations: grid, block and dynamic shared memory of each kernel, as one
//! function per launch shape. The GPU path and the CPU simulator both call these, so the
//! simulator tests the configuration the GPU runs.

/// A kernel launch's grid and block (x, y, z) and its dynamic shared memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
}

/// Warps per block of the row kernels (one warp per row).
pub const ROW_WARPS: u32 = 8;

/// Threads per block of the column kernels (one thread per column).
pub const COLUMN_THREADS: u32 = 256;

/// Rows per part of a column reduction (dγ, dβ): the parts are summed in order afterwards.
pub const ROWS_PER_PART: usize = 64;

fn blocks(n: usize, per_block: u32) -> u32 {
    u32::try_from(n.div_ceil(per_block as usize)).unwrap_or(u32::MAX)
}

/// One warp per row of a `(rows, ·)` matrix (LayerNorm forward, its input gradient).
pub fn per_row(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid: (blocks(rows, ROW_WARPS).max(1), 1, 1),
        block: (32 * ROW_WARPS, 1, 1),
        shared_bytes: 0,
    }
}

/// One thread per column of `cols`, in `parts` parts along y (column reductions).
pub fn per_column(cols: usize, parts: usize) -> LaunchConfig {
    LaunchConfig {
        grid: (
            blocks(cols, COLUMN_THREADS).max(1),
            u32::try_from(parts.max(1)).unwrap_or(u32::MAX),
            1,
        ),
        block: (COLUMN_THREADS, 1, 1),
        shared_bytes: 0,
    }
}

/// How many parts of [`ROWS_PER_PART`] rows a column reduction over `rows` rows takes.
pub fn parts(rows: usize) -> usize {
    rows.div_ceil(ROWS_PER_PART).max(1)
}

/// Threads per block of the element-wise kernels (bias + GELU forward, the optimizer, the
/// EMA) and of the squared-norm sums.
pub const ELEMENT_THREADS: u32 = 256;

/// Elements per block of the squared-gradient-norm partial sums (16 per thread).
pub const SQ_SUM_PER_BLOCK: usize = 16 * ELEMENT_THREADS as usize;

/// One thread per element of a flat buffer of `n` (any `i32` length fits the grid's
/// 2³¹−1 blocks).
pub fn per_element(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid: (blocks(n, ELEMENT_THREADS).max(1), 1, 1),
        block: (ELEMENT_THREADS, 1, 1),
        shared_bytes: 0,
    }
}

/// How many partial sums `grad_sq_sum_partial` writes for `n` elements (at least 1).
pub fn sq_sum_parts(n: usize) -> usize {
    n.div_ceil(SQ_SUM_PER_BLOCK).max(1)
}

/// `grad_sq_sum_partial` over `n` elements: one block per [`SQ_SUM_PER_BLOCK`] elements,
/// 32 floats of dynamic shared memory for the block's sum.
pub fn sq_sum_partial(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid: (u32::try_from(sq_sum_parts(n)).unwrap_or(u32::MAX), 1, 1),
        block: (ELEMENT_THREADS, 1, 1),
        shared_bytes: 32 * 4,
    }
}

/// `grad_sq_sum_finish`: one block over the partial sums.
pub fn sq_sum_finish() -> LaunchConfig {
    LaunchConfig {
        grid: (1, 1, 1),
        block: (ELEMENT_THREADS, 1, 1),
        shared_bytes: 32 * 4,
    }
}

/// The scalar arguments of `adamw_step` at step `t` (from 1), computed in f64 exactly as the
/// CPU's host path (`optimizer/host.rs`) computes them, then rounded to f32.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamwArgs {
    /// `1 − lr·wd`: the decayed elements' factor.
    pub decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
    /// `√(1 − β₂ᵗ)`.
    pub sqrt_bc2: f32,
    pub eps: f32,
}

impl AdamwArgs {
    pub fn new(lr: f64, [b1, b2]: [f64; 2], eps: f64, weight_decay: f64, t: u64) -> Self {
        let t = i32::try_from(t).unwrap_or(i32::MAX);
        AdamwArgs {
            decay: (1.0 - lr * weight_decay) as f32,
            beta1: b1 as f32,
            beta2: b2 as f32,
            one_minus_beta1: (1.0 - b1) as f32,
            one_minus_beta2: (1.0 - b2) as f32,
            step_size: (lr / (1.0 - b1.powi(t))) as f32,
            sqrt_bc2: (1.0 - b2.powi(t)).sqrt() as f32,
            eps: eps as f32,
        }
    }
}

/// The scalar arguments of `sgd_step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdArgs {
    pub lr: f32,
    pub weight_decay: f32,
    pub momentum: f32,
    /// The first step: the momentum buffer becomes the gradient.
    pub first: bool,
}

impl SgdArgs {
    pub fn new(lr: f64, momentum: f64, weight_decay: f64, first: bool) -> Self {
        SgdArgs {
            lr: lr as f32,
            weight_decay: weight_decay as f32,
            momentum: momentum as f32,
            first,
        }
    }
}

/// The scalar arguments of `ema_update`, as dfdx's `ModelEMA` rounds them: `decay` and
/// `1 − decay` (in f64) each to f32.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmaArgs {
    pub decay: f32,
    pub one_minus_decay: f32,
}

impl EmaArgs {
    pub fn new(decay: f64) -> Self {
        EmaArgs {
            decay: decay as f32,
            one_minus_decay: (1.0 - decay) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_and_column_launches_cover_their_work() {
        let l = per_row(17);
        assert_eq!(l.grid.0 * l.block.0 / 32, 24); // 3 blocks of 8 warps ≥ 17 rows
        assert_eq!(l.block.0 % 32, 0);
        let c = per_column(300, parts(130));
        assert_eq!((c.grid.0, c.grid.1), (2, 3));
        assert_eq!(per_row(0).grid.0, 1);
    }
}
