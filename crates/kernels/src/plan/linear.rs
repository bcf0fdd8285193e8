//! Launch plans of `cuda/linear.cu`, and the three cuBLAS products of a `Linear` on tokens as
//! data ([`Gemm`]): which operand goes where, transposes, sizes and leading dimensions of
//! the column-major call that computes each row-major product. [`gemm_reference`] is that
//! call on the CPU, so `cargo test` checks the arguments the GPU passes to cuBLAS.
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

/// Which buffer a [`Gemm`] operand is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// The layer's input `x (R, I)`.
    Input,
    /// The weight `W (O, I)`.
    Weight,
    /// The output's gradient `dy (R, O)`.
    OutputGrad,
}

/// One column-major cuBLAS product `C = op(A)·op(B) + β·C` (α = 1), `op(A)` `(m, k)`,
/// `op(B)` `(k, n)`, `C` `(m, n)`, as `cublasGemmEx` takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    pub a: Operand,
    pub b: Operand,
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
        a: Operand::Weight,
        b: Operand::Input,
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
        a: Operand::Weight,
        b: Operand::OutputGrad,
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
        a: Operand::Input,
        b: Operand::OutputGrad,
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
        let pick = |op: Operand| match op {
            Operand::Input => &x,
            Operand::Weight => &w,
            Operand::OutputGrad => &dy,
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

    #[test]
    fn sizes_past_i32_are_refused() {
        assert!(matches!(
            gemm_forward(1 << 20, 1 << 12, 8),
            Err(PlanError::TooLarge { .. })
        ));
    }
}
