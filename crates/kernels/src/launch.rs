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
