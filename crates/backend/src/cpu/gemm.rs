//! f32 matrix products on host buffers, through the `gemm` crate's kernels.
//!
//! dfdx 0.13's matmul calls `gemm` 0.15, whose AVX-512 kernels need a nightly compiler; the
//! fused path calls `gemm` 0.19 built with `x86-v4`, which selects AVX-512 kernels at run time
//! on stable Rust (AVX2/FMA, or portable code, elsewhere). On a 2-core AVX-512 Xeon that is
//! ≈ 2× the throughput on a DeiT layer's matmuls (docs/performance.md).
//!
//! A [`View`] is a strided window into a slice, so a head's columns of a `(T, 3D)` qkv buffer
//! or the transpose of a weight are read in place, without copies. [`matmul`] checks every
//! index the kernel can touch against the slices before it hands raw pointers to `gemm`.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A `rows × cols` matrix inside `data`: element (r, c) is `data[offset + r·rs + c·cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    layout: Layout,
}

/// A mutable `rows × cols` matrix inside a slice (same addressing as [`View`]).
#[derive(Debug)]
pub(crate) struct ViewMut<'a> {
    data: &'a mut [f32],
    layout: Layout,
}

/// Where a matrix's elements lie in its slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Layout {
    fn row_major(rows: usize, cols: usize) -> Self {
        Layout {
            offset: 0,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The sub-matrix of `rows × cols` starting at (`r0`, `c0`).
    fn block(self, r0: usize, c0: usize, rows: usize, cols: usize) -> Self {
        assert!(
            r0 + rows <= self.rows && c0 + cols <= self.cols,
            "gemm view: block ({r0}+{rows}, {c0}+{cols}) outside {}×{}",
            self.rows,
            self.cols
        );
        Layout {
            offset: self.offset + r0 * self.rs + c0 * self.cs,
            rows,
            cols,
            ..self
        }
    }

    fn t(self) -> Self {
        Layout {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Whether each row's elements lie before the next row's (so blocks of rows are
    /// disjoint ranges of the slice).
    fn rows_apart(&self) -> bool {
        self.cs <= self.rs && self.cols.saturating_sub(1) * self.cs < self.rs
    }

    /// Whether every element lies inside a slice of `len`.
    fn fits(&self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.rs)
            .and_then(|r| (self.cols - 1).checked_mul(self.cs).map(|c| (r, c)))
            .and_then(|(r, c)| r.checked_add(c))
            .and_then(|rc| rc.checked_add(self.offset));
        matches!(last, Some(i) if i < len)
    }
}

impl<'a> View<'a> {
    /// `data` as a row-major `rows × cols` matrix (`data.len()` must be at least that).
    pub(crate) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            layout: Layout::row_major(rows, cols),
        }
    }

    /// The sub-matrix of `rows × cols` starting at row `r0`, column `c0`.
    pub(crate) fn block(self, r0: usize, c0: usize, rows: usize, cols: usize) -> Self {
        View {
            layout: self.layout.block(r0, c0, rows, cols),
            ..self
        }
    }

    /// The transpose (no copy).
    pub(crate) fn t(self) -> Self {
        View {
            layout: self.layout.t(),
            ..self
        }
    }
}

impl<'a> ViewMut<'a> {
    /// `data` as a row-major `rows × cols` matrix (`data.len()` must be at least that).
    pub(crate) fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        ViewMut {
            data,
            layout: Layout::row_major(rows, cols),
        }
    }

    /// The sub-matrix of `rows × cols` starting at row `r0`, column `c0`.
    pub(crate) fn block(self, r0: usize, c0: usize, rows: usize, cols: usize) -> Self {
        ViewMut {
            layout: self.layout.block(r0, c0, rows, cols),
            ..self
        }
    }
}

/// Whether [`matmul`] writes its product over the destination or adds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    Overwrite,
    Accumulate,
}

/// How many threads one product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The calling thread only (for products already inside a parallel loop).
    One,
    /// All of rayon's current pool.
    Pool,
}

/// How a product uses the threads.
enum Plan {
    /// Cut into this many blocks of rows, one single-threaded call each.
    Split(usize),
    /// One call, with the crate's own threading.
    Whole(gemm::Parallelism),
}

impl Threads {
    /// The plan for a product of `rows` output rows: one block per thread when there are
    /// several threads, each block gets at least [`MIN_SPLIT_ROWS`] and `can_split` (the
    /// destination's rows lie apart), else one call.
    fn plan(self, rows: usize, can_split: bool) -> Plan {
        let pool = match self {
            Threads::One => 1,
            Threads::Pool => rayon::current_num_threads().max(1),
        };
        if pool > 1 && can_split && rows >= pool * MIN_SPLIT_ROWS {
            Plan::Split(pool)
        } else if pool > 1 {
            Plan::Whole(gemm::Parallelism::Rayon(pool))
        } else {
            Plan::Whole(gemm::Parallelism::None)
        }
    }
}

/// `dst = a·b` or `dst += a·b` for `a (m × k)`, `b (k × n)`, `dst (m × n)`.
///
/// # Panics
/// If the shapes disagree or a view reaches past its slice (a bug in the caller, never an
/// input's fault: the model's shapes are fixed by its type).
pub(crate) fn matmul(dst: ViewMut<'_>, a: View<'_>, b: View<'_>, write: Write, threads: Threads) {
    let (d, l, r) = (dst.layout, a.layout, b.layout);
    assert!(
        l.rows == d.rows && r.cols == d.cols && l.cols == r.rows,
        "gemm: ({}×{})·({}×{}) into {}×{}",
        l.rows,
        l.cols,
        r.rows,
        r.cols,
        d.rows,
        d.cols
    );
    assert!(
        d.fits(dst.data.len()) && l.fits(a.data.len()) && r.fits(b.data.len()),
        "gemm: a view reaches past its slice"
    );
    let (m, n, k) = (d.rows, d.cols, l.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if write == Write::Overwrite {
            for i in 0..m {
                for j in 0..n {
                    dst.data[d.offset + i * d.rs + j * d.cs] = 0.0;
                }
            }
        }
        return;
    }
    let parallelism = match threads.plan(m, d.rows_apart()) {
        Plan::Split(parts) => {
            split_rows(dst, a, parts)
                .into_par_iter()
                .for_each(|(d, a)| matmul(d, a, b, write, Threads::One));
            return;
        }
        Plan::Whole(parallelism) => parallelism,
    };
    let stride = |s: usize| isize::try_from(s).unwrap_or_else(|_| unreachable!("fits() bounds it"));
    product(Product {
        m,
        n,
        k,
        dst: &mut dst.data[d.offset..],
        dst_rs: stride(d.rs),
        dst_cs: stride(d.cs),
        lhs: &a.data[l.offset..],
        lhs_rs: stride(l.rs),
        lhs_cs: stride(l.cs),
        rhs: &b.data[r.offset..],
        rhs_rs: stride(r.rs),
        rhs_cs: stride(r.cs),
        accumulate: write == Write::Accumulate,
        parallelism,
    });
}

/// Rows of the destination each part of a split product gets at least.
const MIN_SPLIT_ROWS: usize = 64;

/// `dst` and `a` cut into `parts` blocks of consecutive rows (as equal as multiples of 16
/// rows allow), each block of `dst` a disjoint range of its slice (`dst`'s rows must lie
/// apart: [`Layout::rows_apart`]). A split product computes every element with the same
/// kernel and the same order over `k` as the whole one, so the results are the same bits.
fn split_rows<'d, 'a>(dst: ViewMut<'d>, a: View<'a>, parts: usize) -> Vec<(ViewMut<'d>, View<'a>)> {
    let d = dst.layout;
    assert!(d.rows_apart(), "gemm split: rows interleave");
    let mut out = Vec::with_capacity(parts);
    let mut rest = &mut dst.data[d.offset..];
    for (p, (r0, r1)) in row_blocks(d.rows, parts).enumerate() {
        let rows = r1 - r0;
        let cut = if p + 1 == parts {
            rest.len()
        } else {
            (rows * d.rs).min(rest.len())
        };
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(cut);
        rest = tail;
        let layout = Layout {
            offset: 0,
            rows,
            ..d
        };
        out.push((
            ViewMut { data: head, layout },
            a.block(r0, 0, rows, a.layout.cols),
        ));
    }
    out
}

/// `rows` cut into `parts` ranges of consecutive rows, as equal as multiples of 16 allow.
fn row_blocks(rows: usize, parts: usize) -> impl Iterator<Item = (usize, usize)> {
    let end = move |p: usize| {
        if p == parts {
            rows
        } else {
            ((rows * p / parts).div_ceil(16) * 16).min(rows)
        }
    };
    (0..parts).map(move |p| (end(p), end(p + 1)))
}

/// `a·b` as a new row-major `a.rows × b.cols` buffer that the product writes without it
/// being zeroed first, then `epilogue(first_row, block)` on each block of rows while it is
/// still in cache (a bias, say). The rows are split across threads as in [`matmul`].
pub(crate) fn product_new(
    a: View<'_>,
    b: View<'_>,
    threads: Threads,
    epilogue: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let (l, r) = (a.layout, b.layout);
    assert!(
        l.cols == r.rows,
        "gemm: ({}×{})·({}×{})",
        l.rows,
        l.cols,
        r.rows,
        r.cols
    );
    assert!(
        l.fits(a.data.len()) && r.fits(b.data.len()),
        "gemm: a view reaches past its slice"
    );
    let (m, n, k) = (l.rows, r.cols, l.cols);
    let len = m
        .checked_mul(n)
        .unwrap_or_else(|| panic!("gemm: {m}×{n} overflows"));
    if k == 0 || len == 0 {
        let mut out = vec![0.0f32; len];
        if n > 0 {
            epilogue(0, &mut out);
        }
        return out;
    }
    let (parts, parallelism) = match threads.plan(m, true) {
        Plan::Split(parts) => (parts, gemm::Parallelism::None),
        Plan::Whole(parallelism) => (1, parallelism),
    };
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let mut rest = &mut out.spare_capacity_mut()[..len];
    let mut jobs = Vec::with_capacity(parts);
    for (r0, r1) in row_blocks(m, parts) {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut((r1 - r0) * n);
        rest = tail;
        jobs.push((r0, head, a.block(r0, 0, r1 - r0, k)));
    }
    jobs.into_par_iter().for_each(|(r0, block, a)| {
        let block = write_block(block, a, b, parallelism);
        epilogue(r0, block);
    });
    set_written(out, len)
}

/// Writes `a·b` (`a (rows × k)`, `b (k × n)`, checked by the caller) into `dst`, a
/// row-major `rows × n` block of uninitialised memory, and returns it initialised.
#[allow(unsafe_code)]
fn write_block<'d>(
    dst: &'d mut [MaybeUninit<f32>],
    a: View<'_>,
    b: View<'_>,
    parallelism: gemm::Parallelism,
) -> &'d mut [f32] {
    let (l, r) = (a.layout, b.layout);
    let (m, n, k) = (l.rows, r.cols, l.cols);
    assert!(
        dst.len() == m * n
            && k > 0
            && l.cols == r.rows
            && l.fits(a.data.len())
            && r.fits(b.data.len()),
        "gemm: block shapes"
    );
    let stride = |s: usize| isize::try_from(s).unwrap_or_else(|_| unreachable!("fits() bounds it"));
    // SAFETY: `dst` holds exactly m·n elements, written row-major (row stride n, column
    // stride 1); the operands were checked to lie inside their slices. With `read_dst`
    // false, `gemm` stores β·a·b into every element of the m×n destination and never reads
    // it (k > 0), so afterwards all m·n elements are initialised f32 values, and the
    // returned slice reinterprets exactly that memory (`MaybeUninit<f32>` has `f32`'s layout).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            stride(n),
            false,
            a.data[l.offset..].as_ptr(),
            stride(l.cs),
            stride(l.rs),
            b.data[r.offset..].as_ptr(),
            stride(r.cs),
            stride(r.rs),
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
        &mut *(std::ptr::from_mut::<[MaybeUninit<f32>]>(dst) as *mut [f32])
    }
}

/// `out` with its first `len` elements, all written by [`write_block`].
#[allow(unsafe_code)]
fn set_written(mut out: Vec<f32>, len: usize) -> Vec<f32> {
    assert!(len <= out.capacity());
    // SAFETY: `product_new` cut the first `len` elements of `out`'s spare capacity into
    // blocks that together cover all of them, and `write_block` wrote every element of
    // each block before the parallel loop returned.
    unsafe { out.set_len(len) };
    out
}

/// One call's arguments, every view starting at its slice's first element and checked by
/// [`matmul`] to stay inside it.
struct Product<'a> {
    m: usize,
    n: usize,
    k: usize,
    dst: &'a mut [f32],
    dst_rs: isize,
    dst_cs: isize,
    lhs: &'a [f32],
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: &'a [f32],
    rhs_rs: isize,
    rhs_cs: isize,
    accumulate: bool,
    parallelism: gemm::Parallelism,
}

#[allow(unsafe_code)]
fn product(p: Product<'_>) {
    // SAFETY: `matmul` checked that every element (i, j) of each operand, at
    // `i·rs + j·cs` from its slice's start, lies inside that slice, with non-negative
    // strides; `dst` is borrowed mutably and the operands shared, so nothing aliases; the
    // pointers are valid for the whole call, which returns only when all threads are done.
    unsafe {
        gemm::gemm(
            p.m,
            p.n,
            p.k,
            p.dst.as_mut_ptr(),
            p.dst_cs,
            p.dst_rs,
            p.accumulate,
            p.lhs.as_ptr(),
            p.lhs_cs,
            p.lhs_rs,
            p.rhs.as_ptr(),
            p.rhs_cs,
            p.rhs_rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            p.parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The naive product of views, for reference.
    fn naive(a: View<'_>, b: View<'_>) -> Vec<f32> {
        let (l, r) = (a.layout, b.layout);
        let mut out = vec![0.0f32; l.rows * r.cols];
        for i in 0..l.rows {
            for j in 0..r.cols {
                let mut s = 0.0f64;
                for p in 0..l.cols {
                    s += f64::from(a.data[l.offset + i * l.rs + p * l.cs])
                        * f64::from(b.data[r.offset + p * r.rs + j * r.cs]);
                }
                out[i * r.cols + j] = s as f32;
            }
        }
        out
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0
                    - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn strided_blocks_and_transposes_match_the_naive_product() {
        // a: columns 5..12 of a 9×20 buffer (7 wide); b: the transpose of a block of 11×7.
        let (abuf, bbuf) = (data(9 * 20, 1), data(11 * 7, 2));
        let a = View::row_major(&abuf, 9, 20).block(0, 5, 9, 7);
        let b = View::row_major(&bbuf, 11, 7).t().block(0, 2, 7, 6); // (7 × 6)
        let want = naive(a, b);
        for threads in [Threads::One, Threads::Pool] {
            let mut out = vec![0.0f32; 9 * 6];
            matmul(
                ViewMut::row_major(&mut out, 9, 6),
                a,
                b,
                Write::Overwrite,
                threads,
            );
            close(&out, &want);
        }
        // Accumulating into a strided destination: columns 3..9 of a 9×10 buffer.
        let mut acc = vec![1.0f32; 9 * 10];
        let dst = ViewMut::row_major(&mut acc, 9, 10).block(0, 3, 9, 6);
        matmul(dst, a, b, Write::Accumulate, Threads::One);
        for i in 0..9 {
            for j in 0..10 {
                let v = acc[i * 10 + j];
                if (3..9).contains(&j) {
                    assert!((v - 1.0 - want[i * 6 + j - 3]).abs() <= 1e-4 * (1.0 + v.abs()));
                } else {
                    assert_eq!(v, 1.0, "outside the block is untouched");
                }
            }
        }
    }

    #[test]
    fn a_product_split_across_threads_gives_the_bits_of_one_call() {
        let (m, k, n) = (300, 37, 29);
        let (abuf, bbuf) = (data(m * k, 3), data(k * n, 4));
        let (a, b) = (View::row_major(&abuf, m, k), View::row_major(&bbuf, k, n));
        // Row-major blocks split by rows; a transposed destination (interleaved rows) is
        // left to the crate's own threads.
        let run = |threads: Threads, transposed: bool| {
            let mut out = data(m * (n + 5), 5);
            if transposed {
                let dst = ViewMut::row_major(&mut out[..m * n], n, m);
                let layout = dst.layout.t();
                matmul(ViewMut { layout, ..dst }, a, b, Write::Accumulate, threads);
            } else {
                let dst = ViewMut::row_major(&mut out, m, n + 5).block(0, 3, m, n);
                matmul(dst, a, b, Write::Accumulate, threads);
            }
            out
        };
        for transposed in [false, true] {
            let one = run(Threads::One, transposed);
            for threads in [2, 3, 4] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool");
                let split = pool.install(|| run(Threads::Pool, transposed));
                if transposed {
                    close(&split, &one);
                } else {
                    assert_eq!(split, one, "{threads} threads");
                }
            }
        }
    }

    #[test]
    fn a_new_product_matches_the_naive_one_on_any_thread_count_and_runs_the_epilogue() {
        let (m, k, n) = (300, 37, 29);
        let (abuf, bbuf) = (data(m * 50, 6), data(n * k, 7));
        // a: a block of a wider buffer; b: a transposed view.
        let a = View::row_major(&abuf, m, 50).block(0, 4, m, k);
        let b = View::row_major(&bbuf, n, k).t();
        let bias = data(n, 8);
        let want = naive(a, b);
        let run = |threads: Threads| {
            product_new(a, b, threads, |r0, rows| {
                assert_eq!(r0 % 16, 0, "blocks start at a multiple of 16 rows");
                for row in rows.chunks_mut(n) {
                    row.iter_mut().zip(&bias).for_each(|(v, b)| *v += b);
                }
            })
        };
        let one = run(Threads::One);
        assert_eq!(one.len(), m * n);
        for (i, (got, want)) in one.iter().zip(&want).enumerate() {
            let w = want + bias[i % n];
            assert!((got - w).abs() <= 1e-4 * (1.0 + w.abs()), "{got} vs {w}");
        }
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            assert_eq!(
                pool.install(|| run(Threads::Pool)),
                one,
                "{threads} threads"
            );
        }
        // An empty inner dimension gives the epilogue zeros.
        let e: Vec<f32> = Vec::new();
        let z = product_new(
            View::row_major(&e, 3, 0),
            View::row_major(&e, 0, 2),
            Threads::Pool,
            |_, rows| rows.iter_mut().for_each(|v| *v += 1.0),
        );
        assert_eq!(z, [1.0; 6]);
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros_or_leaves_the_sum() {
        let e: Vec<f32> = Vec::new();
        let mut out = vec![3.0f32; 4];
        let (a, b) = (View::row_major(&e, 2, 0), View::row_major(&e, 0, 2));
        matmul(
            ViewMut::row_major(&mut out, 2, 2),
            a,
            b,
            Write::Accumulate,
            Threads::One,
        );
        assert_eq!(out, [3.0; 4]);
        matmul(
            ViewMut::row_major(&mut out, 2, 2),
            a,
            b,
            Write::Overwrite,
            Threads::One,
        );
        assert_eq!(out, [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "reaches past")]
    fn a_view_past_its_slice_is_refused() {
        let (a, b, mut out) = (vec![0.0f32; 5], vec![0.0f32; 6], vec![0.0f32; 4]);
        let v = View::row_major(&a, 2, 3); // needs 6 elements
        let w = View::row_major(&b, 3, 2);
        matmul(
            ViewMut::row_major(&mut out, 2, 2),
            v,
            w,
            Write::Overwrite,
            Threads::One,
        );
    }
}
