//! Launch plans of `cuda/linear.cu`, and the cuBLAS products as data: the three of a
//! `Linear` on tokens ([`Gemm`]) and the three of a batched product `A·op(B)` such as
//! attention's `q·kᵀ` and `p·v` ([`Batched`]) — which operand goes where, transposes, sizes,
//! leading dimensions and strides of the column-major call that computes each row-major
//! product. [`gemm_reference`] and [`batched_reference`] are those calls on the CPU, so
//! `cargo test` checks the arguments the GPU passes to cuBLAS.
//!
//! Row-major `x (R, I)`, weight `W (O, I)` (PyTorch's layout), `y, dy (R, O)`:
//! - forward `y += x·Wᵀ` (y holds the bias rows first): column-major `yᵀ = W·xᵀ`;
//! - input gradient `dx += dy·W`: column-major `dxᵀ = Wᵀ·dyᵀ`;
//! - weight gradient `dW += dyᵀ·x`: column-major `dWᵀ = xᵀ·dy`.
//!
//! A row-major `(r, c)` matrix is the column-major `(c, r)` matrix with leading dimension
//! `c`, its transpose, so no operand is ever copied.

use super::{int, launch, len, rows_of, Buffer, Launch, Param, PlanError};
use crate::launch as config;

/// `bias_rows`: every row of `y` `(rows, cols)` set to `bias` `(cols,)`.
pub fn bias_rows<I: Buffer, O: Buffer>(bias: I, y: O) -> Result<Launch<I, O>, PlanError> {
    let cols = bias.len();
    let rows = rows_of("y", &y, cols)?;
    launch(
        "bias_rows",
        config::per_element(rows * cols),
        vec![
            Param::In(bias),
            Param::Out(y),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
        ],
    )
}

/// `column_sum_partial`: the column sums of `x` `(rows, cols)` per part of
/// [`config::ROWS_PER_PART`] rows, into `parts` `(parts, cols)` (see [`super::part_len`]);
/// [`super::column_sum_accumulate`] adds the parts in order.
pub fn column_sum_partial<I: Buffer, O: Buffer>(
    x: I,
    parts: O,
    cols: usize,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("x", &x, cols)?;
    let n = config::parts(rows);
    len("parts", &parts, n * cols)?;
    launch(
        "column_sum_partial",
        config::per_column(cols, n),
        vec![
            Param::In(x),
            Param::Out(parts),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::I32(int("rows_per_part", config::ROWS_PER_PART)?),
        ],
    )
}

/// `f32_to_bf16`: `y` (bf16 bits) = `x` rounded to nearest even, element by element.
pub fn f32_to_bf16<I: Buffer, O: Buffer>(x: I, y: O) -> Result<Launch<I, O>, PlanError> {
    let n = x.len();
    len("y", &y, n)?;
    launch(
        "f32_to_bf16",
        config::per_element(n),
        vec![Param::In(x), Param::Out(y), Param::I32(int("n", n)?)],
    )
}

/// Which operand of a product `C = A·op(B)` a [`Gemm`] reads where. For a `Linear`,
/// `y = x·Wᵀ`: the input is the left factor, the weight the right one (taken transposed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// `A`: a `Linear`'s input `x (R, I)`, or a batched product's `(n, M, K)`.
    Left,
    /// `B`: a `Linear`'s weight `W (O, I)`, or a batched product's `(n, K, N)` (`(n, N, K)`
    /// when the product takes its transpose).
    Right,
    /// The product's gradient `dC`: `dy (R, O)`, or `(n, M, N)`.
    OutputGrad,
}

/// One column-major cuBLAS product `C = op(A)·op(B) + β·C` (α = 1), `op(A)` `(m, k)`,
/// `op(B)` `(k, n)`, `C` `(m, n)`, as `cublasGemmEx` takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    pub a: Factor,
    pub b: Factor,
    /// `op(A) = Aᵀ`.
    pub transa: bool,
    /// `op(B) = Bᵀ`.
    pub transb: bool,
    pub m: i32,
    pub n: i32,
    pub k: i32,
    pub lda: i32,
    pub ldb: i32,
    pub ldc: i32,
    /// 1: the product is added to what C holds (the bias rows, or the gradient so far).
    pub beta: f32,
}

/// The sizes of a `Linear` on `rows` tokens: `inputs → outputs`, each a kernel `int`.
fn sizes(rows: usize, inputs: usize, outputs: usize) -> Result<(i32, i32, i32), PlanError> {
    // The largest operand must be addressable with the leading dimensions cuBLAS takes.
    int("rows·inputs", rows.saturating_mul(inputs))?;
    int("rows·outputs", rows.saturating_mul(outputs))?;
    int("inputs·outputs", inputs.saturating_mul(outputs))?;
    Ok((
        int("rows", rows)?,
        int("inputs", inputs)?,
        int("outputs", outputs)?,
    ))
}

/// Forward `y (R, O) += x (R, I)·Wᵀ`: `yᵀ (O, R) = W·xᵀ`, `A = W` (column-major `(I, O)`,
/// transposed), `B = x` (column-major `(I, R)`).
pub fn gemm_forward(rows: usize, inputs: usize, outputs: usize) -> Result<Gemm, PlanError> {
    let (r, i, o) = sizes(rows, inputs, outputs)?;
    Ok(Gemm {
        a: Factor::Right,
        b: Factor::Left,
        transa: true,
        transb: false,
        m: o,
        n: r,
        k: i,
        lda: i,
        ldb: i,
        ldc: o,
        beta: 1.0,
    })
}

/// Input gradient `dx (R, I) += dy (R, O)·W`: `dxᵀ (I, R) = Wᵀ·dyᵀ`, `A = W` (column-major
/// `(I, O)` = Wᵀ), `B = dy` (column-major `(O, R)` = dyᵀ).
pub fn gemm_backward_input(rows: usize, inputs: usize, outputs: usize) -> Result<Gemm, PlanError> {
    let (r, i, o) = sizes(rows, inputs, outputs)?;
    Ok(Gemm {
        a: Factor::Right,
        b: Factor::OutputGrad,
        transa: false,
        transb: false,
        m: i,
        n: r,
        k: o,
        lda: i,
        ldb: o,
        ldc: i,
        beta: 1.0,
    })
}

/// Weight gradient `dW (O, I) += dyᵀ·x`: `dWᵀ (I, O) = xᵀ·dy`, `A = x` (column-major
/// `(I, R)` = xᵀ), `B = dy` (column-major `(O, R)`, transposed).
pub fn gemm_backward_weight(rows: usize, inputs: usize, outputs: usize) -> Result<Gemm, PlanError> {
    let (r, i, o) = sizes(rows, inputs, outputs)?;
    Ok(Gemm {
        a: Factor::Left,
        b: Factor::OutputGrad,
        transa: false,
        transb: true,
        m: i,
        n: o,
        k: r,
        lda: i,
        ldb: o,
        ldc: i,
        beta: 1.0,
    })
}

/// One batched product of `count` matrices: each is the [`Gemm`] `g` on operands
/// `stride_a`, `stride_b` and `stride_c` elements apart, as `cublasGemmStridedBatchedEx`
/// takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batched {
    pub g: Gemm,
    pub count: i32,
    pub stride_a: i64,
    pub stride_b: i64,
    pub stride_c: i64,
}

/// The shape of a batched product `C (n, M, N) = A (n, M, K)·op(B)`: `B` is `(n, K, N)`, or
/// `(n, N, K)` with `transposed` (attention's `q·kᵀ`; `p·v` is not transposed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    pub count: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub transposed: bool,
}

impl BatchShape {
    /// Elements of one `A`, `B` and `C`.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.m * self.k, self.k * self.n, self.m * self.n)
    }
}

/// The column-major call `C = op(A)·op(B) + C` on the operands `a`, `b`.
#[allow(clippy::too_many_arguments)]
fn call(
    (a, b): (Factor, Factor),
    transa: bool,
    transb: bool,
    m: i32,
    n: i32,
    k: i32,
    lda: i32,
    ldb: i32,
    ldc: i32,
) -> Gemm {
    Gemm {
        a,
        b,
        transa,
        transb,
        m,
        n,
        k,
        lda,
        ldb,
        ldc,
        beta: 1.0,
    }
}

/// The batch's sizes as `int`s and its strides as `long long`s, checked.
fn batch_sizes(s: &BatchShape) -> Result<(i32, i32, i32, i32, [i64; 3]), PlanError> {
    let (a, b, c) = s.sizes();
    for (what, per) in [("A", a), ("B", b), ("C", c)] {
        int(what, per)?;
        i64::try_from(per.saturating_mul(s.count))
            .map_err(|_| PlanError::TooLarge { what, value: per })?;
    }
    let strides = [a, b, c].map(|v| v as i64);
    Ok((
        int("count", s.count)?,
        int("m", s.m)?,
        int("k", s.k)?,
        int("n", s.n)?,
        strides,
    ))
}

/// Forward `C = A·op(B)` (β = 0: C is written): column-major `Cᵀ = op(B)ᵀ·Aᵀ`.
pub fn batched_forward(s: &BatchShape) -> Result<Batched, PlanError> {
    let (count, m, k, n, [sa, sb, sc]) = batch_sizes(s)?;
    // B row-major (K, N) is column-major Bᵀ (N × K, ld N); (N, K) is column-major (K × N,
    // ld K), taken transposed. A row-major (M, K) is column-major Aᵀ (K × M, ld K).
    let (transa, lda) = if s.transposed { (true, k) } else { (false, n) };
    let mut g = call(
        (Factor::Right, Factor::Left),
        transa,
        false,
        n,
        m,
        k,
        lda,
        k,
        n,
    );
    g.beta = 0.0;
    Ok(Batched {
        g,
        count,
        stride_a: sb,
        stride_b: sa,
        stride_c: sc,
    })
}

/// `dA += dC·op(B)ᵀ`: column-major `dAᵀ (K × M) = op(B)·dCᵀ`.
pub fn batched_backward_left(s: &BatchShape) -> Result<Batched, PlanError> {
    let (count, m, k, n, [_, sb, sc]) = batch_sizes(s)?;
    // op(B) is `(K × N)` in both cases. Not transposed: B (K, N) is column-major (N × K),
    // taken transposed (ld N). Transposed: B (N, K) is column-major (K × N), which is op(B)
    // itself (ld K). dC (M, N) is column-major dCᵀ (N × M, ld N).
    let (transa, lda) = if s.transposed { (false, k) } else { (true, n) };
    let factors = (Factor::Right, Factor::OutputGrad);
    Ok(Batched {
        g: call(factors, transa, false, k, m, n, lda, n, k),
        count,
        stride_a: sb,
        stride_b: sc,
        stride_c: (s.m * s.k) as i64,
    })
}

/// `dB += Aᵀ·dC` (`(K, N)`), or `dB += dCᵀ·A` (`(N, K)`, transposed).
pub fn batched_backward_right(s: &BatchShape) -> Result<Batched, PlanError> {
    let (count, m, k, n, [sa, _, sc]) = batch_sizes(s)?;
    let sb = (s.k * s.n) as i64;
    Ok(if s.transposed {
        // dBᵀ (K × N) = Aᵀ (K × M, ld K) · dC (M × N): dC column-major (N × M) transposed.
        Batched {
            g: call(
                (Factor::Left, Factor::OutputGrad),
                false,
                true,
                k,
                n,
                m,
                k,
                n,
                k,
            ),
            count,
            stride_a: sa,
            stride_b: sc,
            stride_c: sb,
        }
    } else {
        // dBᵀ (N × K) = dCᵀ (N × M, ld N) · A (M × K): A column-major (K × M) transposed.
        Batched {
            g: call(
                (Factor::OutputGrad, Factor::Left),
                false,
                true,
                n,
                k,
                m,
                n,
                k,
                n,
            ),
            count,
            stride_a: sc,
            stride_b: sa,
            stride_c: sb,
        }
    })
}

/// [`gemm_reference`] of every matrix of a batch.
pub fn batched_reference(
    p: &Batched,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) -> Result<(), PlanError> {
    let count = usize::try_from(p.count).unwrap_or(0);
    let span = |ld: i32, cols: i32| ld as usize * cols as usize;
    let g = &p.g;
    let a_len = span(g.lda, if g.transa { g.m } else { g.k });
    let b_len = span(g.ldb, if g.transb { g.k } else { g.n });
    let c_len = span(g.ldc, g.n);
    for i in 0..count {
        let at = |stride: i64, len: usize| {
            let from = (stride as usize) * i;
            from..from + len
        };
        let (ra, rb, rc) = (
            at(p.stride_a, a_len),
            at(p.stride_b, b_len),
            at(p.stride_c, c_len),
        );
        let (Some(a), Some(b)) = (a.get(ra), b.get(rb)) else {
            return Err(PlanError::Length {
                what: "A or B",
                want: count,
                got: i,
            });
        };
        let c = c.get_mut(rc).ok_or(PlanError::Length {
            what: "C",
            want: count,
            got: i,
        })?;
        gemm_reference(g, a, b, c)?;
    }
    Ok(())
}

/// What cuBLAS computes for `g` on column-major buffers (α = 1), in `f64` sums: the CPU
/// oracle of the plans above. Lengths are checked against the leading dimensions.
pub fn gemm_reference(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), PlanError> {
    let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
    let (lda, ldb, ldc) = (g.lda as usize, g.ldb as usize, g.ldc as usize);
    // op(A)[row, p] and op(B)[p, col] in column-major storage.
    let a_cols = if g.transa { m } else { k };
    let b_cols = if g.transb { k } else { n };
    len("A", &a, lda * a_cols)?;
    len("B", &b, ldb * b_cols)?;
    len("C", &&*c, ldc * n)?;
    let at = |row: usize, p: usize| {
        if g.transa {
            a[row * lda + p]
        } else {
            a[p * lda + row]
        }
    };
    let bt = |p: usize, col: usize| {
        if g.transb {
            b[p * ldb + col]
        } else {
            b[col * ldb + p]
        }
    };
    for col in 0..n {
        for row in 0..m {
            let s: f64 = (0..k)
                .map(|p| f64::from(at(row, p)) * f64::from(bt(p, col)))
                .sum();
            let out = &mut c[col * ldc + row];
            *out = (s + f64::from(g.beta) * f64::from(*out)) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major `(r, c)` values `v(i, j)`.
    fn matrix(r: usize, c: usize, v: impl Fn(usize, usize) -> f32) -> Vec<f32> {
        (0..r * c).map(|n| v(n / c, n % c)).collect()
    }

    #[test]
    fn the_three_products_are_the_row_major_ones() {
        let (r, i, o) = (5, 3, 4);
        let x = matrix(r, i, |a, b| (a * 7 + b) as f32 * 0.25 - 1.0);
        let w = matrix(o, i, |a, b| (a as f32 - b as f32) * 0.5);
        let dy = matrix(r, o, |a, b| (a + 2 * b) as f32 * 0.125);
        let pick = |f: Factor| match f {
            Factor::Left => &x,
            Factor::Right => &w,
            Factor::OutputGrad => &dy,
        };
        let run = |g: Gemm, c: &mut Vec<f32>| gemm_reference(&g, pick(g.a), pick(g.b), c);

        let mut y = vec![1.0; r * o]; // the bias rows, all 1
        run(gemm_forward(r, i, o).expect("plan"), &mut y).expect("gemm");
        let want = matrix(r, o, |t, n| {
            1.0 + (0..i).map(|p| x[t * i + p] * w[n * i + p]).sum::<f32>()
        });
        assert_eq!(y, want);

        let mut dx = vec![0.5; r * i];
        run(gemm_backward_input(r, i, o).expect("plan"), &mut dx).expect("gemm");
        let want = matrix(r, i, |t, p| {
            0.5 + (0..o).map(|n| dy[t * o + n] * w[n * i + p]).sum::<f32>()
        });
        assert_eq!(dx, want);

        let mut dw = vec![0.0; o * i];
        run(gemm_backward_weight(r, i, o).expect("plan"), &mut dw).expect("gemm");
        let want = matrix(o, i, |n, p| {
            (0..r).map(|t| dy[t * o + n] * x[t * i + p]).sum::<f32>()
        });
        assert_eq!(dw, want);
    }

    /// Row-major `C (n, M, N) = A·op(B)`, and the two gradients from `dC`, naively.
    fn naive(s: &BatchShape, a: &[f32], b: &[f32], dc: &[f32]) -> [Vec<f32>; 3] {
        let (sa, sb, sc) = s.sizes();
        let bv = |i: usize, p: usize, q: usize| {
            // op(B)[p, q], p < K, q < N
            if s.transposed {
                b[i * sb + q * s.k + p]
            } else {
                b[i * sb + p * s.n + q]
            }
        };
        let mut c = vec![0.0; s.count * sc];
        let mut da = vec![0.0; s.count * sa];
        let mut db = vec![0.0; s.count * sb];
        for i in 0..s.count {
            for r in 0..s.m {
                for q in 0..s.n {
                    c[i * sc + r * s.n + q] = (0..s.k)
                        .map(|p| a[i * sa + r * s.k + p] * bv(i, p, q))
                        .sum();
                }
                for p in 0..s.k {
                    da[i * sa + r * s.k + p] = (0..s.n)
                        .map(|q| dc[i * sc + r * s.n + q] * bv(i, p, q))
                        .sum();
                }
            }
            for p in 0..s.k {
                for q in 0..s.n {
                    let g: f32 = (0..s.m)
                        .map(|r| a[i * sa + r * s.k + p] * dc[i * sc + r * s.n + q])
                        .sum();
                    let at = if s.transposed {
                        q * s.k + p
                    } else {
                        p * s.n + q
                    };
                    db[i * sb + at] = g;
                }
            }
        }
        [c, da, db]
    }

    #[test]
    fn the_batched_products_are_the_row_major_ones() {
        for transposed in [false, true] {
            let s = BatchShape {
                count: 3,
                m: 4,
                k: 2,
                n: 5,
                transposed,
            };
            let (sa, sb, sc) = s.sizes();
            let a: Vec<f32> = (0..3 * sa).map(|i| (i % 7) as f32 * 0.5 - 1.0).collect();
            let b: Vec<f32> = (0..3 * sb).map(|i| (i % 5) as f32 * 0.25).collect();
            let dc: Vec<f32> = (0..3 * sc).map(|i| (i % 3) as f32 - 1.0).collect();
            let pick = |f: Factor| match f {
                Factor::Left => &a,
                Factor::Right => &b,
                Factor::OutputGrad => &dc,
            };
            let run =
                |p: Batched, c: &mut Vec<f32>| batched_reference(&p, pick(p.g.a), pick(p.g.b), c);
            let [want_c, want_da, want_db] = naive(&s, &a, &b, &dc);
            let mut c = vec![9.0; 3 * sc]; // β = 0: overwritten
            run(batched_forward(&s).expect("plan"), &mut c).expect("gemm");
            assert_eq!(c, want_c, "C, transposed {transposed}");
            let mut da = vec![0.0; 3 * sa];
            run(batched_backward_left(&s).expect("plan"), &mut da).expect("gemm");
            assert_eq!(da, want_da, "dA, transposed {transposed}");
            let mut db = vec![0.0; 3 * sb];
            run(batched_backward_right(&s).expect("plan"), &mut db).expect("gemm");
            assert_eq!(db, want_db, "dB, transposed {transposed}");
        }
    }

    #[test]
    fn sizes_past_i32_are_refused() {
        assert!(matches!(
            gemm_forward(1 << 20, 1 << 12, 8),
            Err(PlanError::TooLarge { .. })
        ));
    }
}
