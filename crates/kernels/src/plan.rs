//! Every `f32` kernel launch as data: the kernel's name, its configuration ([`crate::launch`])
//! and its parameters in the kernel's order, built by one function per kernel after checking
//! each buffer's length against the sizes passed with it.
//!
//! The functions are generic over the buffer handles: host slices in the simulator
//! ([`crate::sim`]), device pointers on the GPU (the back end's CUDA device). Both run the
//! same plan, so `cargo test` checks the parameter order, sizes and configuration the GPU
//! launches, not a copy of them.

use crate::launch::{self, AdamwArgs, EmaArgs, LaunchConfig, SgdArgs};

// The families planned in files of their own (`plan/*.rs`).
mod attention;
mod cross_entropy;
mod dropout;
mod linear;
mod multi;
mod residual;
pub use attention::*;
pub use cross_entropy::*;
pub use dropout::*;
pub use linear::*;
pub use multi::*;
pub use residual::*;

/// A buffer handle that knows its length in elements.
pub trait Buffer {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Buffer for &[f32] {
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
}

impl Buffer for &mut [f32] {
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
}

/// One kernel parameter: a buffer the kernel reads (`I`) or writes (`O`), a null pointer
/// (an optional input left out), or a scalar.
#[derive(Debug)]
pub enum Param<I, O> {
    In(I),
    Out(O),
    Null,
    I32(i32),
    F32(f32),
    U64(u64),
    F64(f64),
}

/// One launch: the kernel, its configuration and its parameters.
#[derive(Debug)]
pub struct Launch<I, O> {
    pub kernel: &'static str,
    pub config: LaunchConfig,
    pub params: Vec<Param<I, O>>,
}

/// Why a launch cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A buffer shorter (or longer) than the sizes passed with it.
    Length {
        what: &'static str,
        want: usize,
        got: usize,
    },
    /// A size that does not fit the kernel's `int`.
    TooLarge { what: &'static str, value: usize },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Length { what, want, got } => {
                write!(f, "`{what}` has {got} values, the launch needs {want}")
            }
            PlanError::TooLarge { what, value } => write!(f, "`{what}` = {value} exceeds i32"),
        }
    }
}

impl std::error::Error for PlanError {}

/// `v` as the kernel's `int`.
pub fn int(what: &'static str, v: usize) -> Result<i32, PlanError> {
    i32::try_from(v).map_err(|_| PlanError::TooLarge { what, value: v })
}

/// Checks that `b` holds `want` elements.
pub fn len(what: &'static str, b: &impl Buffer, want: usize) -> Result<(), PlanError> {
    if b.len() == want {
        Ok(())
    } else {
        Err(PlanError::Length {
            what,
            want,
            got: b.len(),
        })
    }
}

/// The rows of a `(rows, cols)` matrix `x` (`cols` 0 counts as 1), checked.
fn rows_of(what: &'static str, x: &impl Buffer, cols: usize) -> Result<usize, PlanError> {
    let rows = x.len() / cols.max(1);
    len(what, x, rows * cols)?;
    Ok(rows)
}

/// An optional input: the buffer, or a null pointer.
fn optional<I, O>(b: Option<I>) -> Param<I, O> {
    b.map_or(Param::Null, Param::In)
}

fn launch<I, O>(
    kernel: &'static str,
    config: LaunchConfig,
    params: Vec<Param<I, O>>,
) -> Result<Launch<I, O>, PlanError> {
    Ok(Launch {
        kernel,
        config,
        params,
    })
}

// ---- layer_norm.cu ------------------------------------------------------------------------

/// The outputs of a LayerNorm forward: `y` `(rows, cols)`, and per row μ and 1/σ `(rows,)`.
pub struct RowOutputs<O> {
    pub y: O,
    pub mean: O,
    pub rstd: O,
}

/// `layer_norm_forward`: `y` = LayerNorm of each row of `x` `(rows, cols)` with γ, β
/// `(cols,)`.
pub fn layer_norm_forward<I: Buffer, O: Buffer>(
    x: I,
    gamma: I,
    beta: I,
    out: RowOutputs<O>,
    cols: usize,
    eps: f32,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("x", &x, cols)?;
    len("gamma", &gamma, cols)?;
    len("beta", &beta, cols)?;
    len("y", &out.y, rows * cols)?;
    len("mean", &out.mean, rows)?;
    len("rstd", &out.rstd, rows)?;
    launch(
        "layer_norm_forward",
        launch::per_row(rows),
        vec![
            Param::In(x),
            Param::In(gamma),
            Param::In(beta),
            Param::Out(out.y),
            Param::Out(out.mean),
            Param::Out(out.rstd),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::F32(eps),
        ],
    )
}

/// `layer_norm_forward_bf16`: [`layer_norm_forward`] with `y` in bf16 bits (the statistics
/// in f32): the same parameters, checked the same way.
pub fn layer_norm_forward_bf16<I: Buffer, O: Buffer>(
    x: I,
    gamma: I,
    beta: I,
    out: RowOutputs<O>,
    cols: usize,
    eps: f32,
) -> Result<Launch<I, O>, PlanError> {
    let mut plan = layer_norm_forward(x, gamma, beta, out, cols, eps)?;
    plan.kernel = "layer_norm_forward_bf16";
    Ok(plan)
}

/// `residual_layer_norm_forward`: `x' = x + s·(h + bias)` (`scale` one per sample of `tokens` rows,
/// or 1), written to `x_out`, then LayerNorm of `x'`.
#[allow(clippy::too_many_arguments)]
pub fn residual_layer_norm_forward<I: Buffer, O: Buffer>(
    x: I,
    (h, bias): (I, Option<I>),
    scale: Option<I>,
    tokens: usize,
    x_out: O,
    gamma: I,
    beta: I,
    out: RowOutputs<O>,
    cols: usize,
    eps: f32,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("x", &x, cols)?;
    len("h", &h, rows * cols)?;
    if let Some(b) = &bias {
        len("bias", b, cols)?;
    }
    if let Some(s) = &scale {
        len("scale", s, rows.div_ceil(tokens.max(1)))?;
    }
    len("x_out", &x_out, rows * cols)?;
    len("gamma", &gamma, cols)?;
    len("beta", &beta, cols)?;
    len("y", &out.y, rows * cols)?;
    len("mean", &out.mean, rows)?;
    len("rstd", &out.rstd, rows)?;
    launch(
        "residual_layer_norm_forward",
        launch::per_row(rows),
        vec![
            Param::In(x),
            Param::In(h),
            optional(bias),
            optional(scale),
            Param::I32(int("tokens", tokens.max(1))?),
            Param::Out(x_out),
            Param::In(gamma),
            Param::In(beta),
            Param::Out(out.y),
            Param::Out(out.mean),
            Param::Out(out.rstd),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::F32(eps),
        ],
    )
}

/// `residual_layer_norm_forward_bf16`: [`residual_layer_norm_forward`] with `y` in bf16
/// bits (`x_out` and the statistics in f32): the same parameters, checked the same way.
#[allow(clippy::too_many_arguments)]
pub fn residual_layer_norm_forward_bf16<I: Buffer, O: Buffer>(
    x: I,
    (h, bias): (I, Option<I>),
    scale: Option<I>,
    tokens: usize,
    x_out: O,
    gamma: I,
    beta: I,
    out: RowOutputs<O>,
    cols: usize,
    eps: f32,
) -> Result<Launch<I, O>, PlanError> {
    let mut plan = residual_layer_norm_forward(
        x,
        (h, bias),
        scale,
        tokens,
        x_out,
        gamma,
        beta,
        out,
        cols,
        eps,
    )?;
    plan.kernel = "residual_layer_norm_forward_bf16";
    Ok(plan)
}

/// The saved inputs of a LayerNorm backward: `x` `(rows, cols)`, μ and 1/σ `(rows,)`.
pub struct RowInputs<I> {
    pub x: I,
    pub mean: I,
    pub rstd: I,
}

/// `layer_norm_backward_input`: `dx (+)= ∂L/∂x` from `dy` `(rows, cols)` (`accumulate`:
/// add to `dx`, else overwrite).
pub fn layer_norm_backward_input<I: Buffer, O: Buffer>(
    dy: I,
    saved: RowInputs<I>,
    gamma: I,
    dx: O,
    accumulate: bool,
) -> Result<Launch<I, O>, PlanError> {
    let cols = gamma.len();
    let rows = saved.mean.len();
    len("dy", &dy, rows * cols)?;
    len("x", &saved.x, rows * cols)?;
    len("rstd", &saved.rstd, rows)?;
    len("dx", &dx, rows * cols)?;
    launch(
        "layer_norm_backward_input",
        launch::per_row(rows),
        vec![
            Param::In(dy),
            Param::In(saved.x),
            Param::In(saved.mean),
            Param::In(saved.rstd),
            Param::In(gamma),
            Param::Out(dx),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::I32(i32::from(accumulate)),
        ],
    )
}

/// The gradients [`residual_layer_norm_backward`] adds into: the residual input's and the
/// branch's, `(rows, cols)` each.
pub struct JoinGrads<O> {
    pub dx: O,
    pub dh: O,
}

/// `residual_layer_norm_backward`: from `dy` (the LayerNorm output's gradient) and `dx_out`
/// (the join output's gradient from its other uses), `g = dx_out + LN'(dy)`, then
/// `dx += g`, `dh += s·g` (`scale` one per sample of `tokens` rows, or 1).
#[allow(clippy::too_many_arguments)]
pub fn residual_layer_norm_backward<I: Buffer, O: Buffer>(
    dy: I,
    saved: RowInputs<I>,
    gamma: I,
    dx_out: I,
    scale: Option<I>,
    tokens: usize,
    grads: JoinGrads<O>,
) -> Result<Launch<I, O>, PlanError> {
    let cols = gamma.len();
    let rows = saved.mean.len();
    for (what, b) in [("dy", &dy), ("x_out", &saved.x), ("dx_out", &dx_out)] {
        len(what, b, rows * cols)?;
    }
    len("rstd", &saved.rstd, rows)?;
    if let Some(s) = &scale {
        len("scale", s, rows.div_ceil(tokens.max(1)))?;
    }
    len("dx", &grads.dx, rows * cols)?;
    len("dh", &grads.dh, rows * cols)?;
    launch(
        "residual_layer_norm_backward",
        launch::per_row(rows),
        vec![
            Param::In(dy),
            Param::In(saved.x),
            Param::In(saved.mean),
            Param::In(saved.rstd),
            Param::In(gamma),
            Param::In(dx_out),
            optional(scale),
            Param::I32(int("tokens", tokens.max(1))?),
            Param::Out(grads.dx),
            Param::Out(grads.dh),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
        ],
    )
}

/// How many `(parts, cols)` partial sums a column reduction over `rows` rows writes.
pub fn part_len(rows: usize, cols: usize) -> usize {
    launch::parts(rows) * cols
}

/// `layer_norm_backward_params`: the partial sums of dγ and dβ `(parts, cols)`, one part per
/// [`launch::ROWS_PER_PART`] rows (see [`part_len`]).
pub fn layer_norm_backward_params<I: Buffer, O: Buffer>(
    dy: I,
    saved: RowInputs<I>,
    cols: usize,
    gamma_parts: O,
    beta_parts: O,
) -> Result<Launch<I, O>, PlanError> {
    let rows = saved.mean.len();
    len("dy", &dy, rows * cols)?;
    len("x", &saved.x, rows * cols)?;
    len("rstd", &saved.rstd, rows)?;
    len("gamma parts", &gamma_parts, part_len(rows, cols))?;
    len("beta parts", &beta_parts, part_len(rows, cols))?;
    launch(
        "layer_norm_backward_params",
        launch::per_column(cols, launch::parts(rows)),
        vec![
            Param::In(dy),
            Param::In(saved.x),
            Param::In(saved.mean),
            Param::In(saved.rstd),
            Param::Out(gamma_parts),
            Param::Out(beta_parts),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::I32(int("rows per part", launch::ROWS_PER_PART)?),
        ],
    )
}

/// `column_sum_accumulate`: `out += Σ_parts parts` over `(parts, cols)`, the parts in order.
pub fn column_sum_accumulate<I: Buffer, O: Buffer>(
    parts: I,
    out: O,
) -> Result<Launch<I, O>, PlanError> {
    let cols = out.len();
    let n = rows_of("parts", &parts, cols)?;
    launch(
        "column_sum_accumulate",
        launch::per_column(cols, 1),
        vec![
            Param::In(parts),
            Param::I32(int("parts", n)?),
            Param::I32(int("cols", cols)?),
            Param::Out(out),
        ],
    )
}

// ---- softmax.cu ---------------------------------------------------------------------------

/// `softmax_forward`: `p = softmax(scale·s)` per row of `s` `(rows, cols)`.
pub fn softmax_forward<I: Buffer, O: Buffer>(
    s: I,
    p: O,
    cols: usize,
    scale: f32,
) -> Result<Launch<I, O>, PlanError> {
    softmax_forward_of("softmax_forward", s, p, cols, scale)
}

/// The plan of a softmax forward kernel (`p` in f32 or bf16): both take the same parameters.
fn softmax_forward_of<I: Buffer, O: Buffer>(
    kernel: &'static str,
    s: I,
    p: O,
    cols: usize,
    scale: f32,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("s", &s, cols)?;
    len("p", &p, rows * cols)?;
    launch(
        kernel,
        launch::per_row(rows),
        vec![
            Param::In(s),
            Param::Out(p),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::F32(scale),
        ],
    )
}

/// `softmax_backward`: `ds = scale·p ⊙ (dp − Σ_j dp_j·p_j)` per row (`accumulate`: added
/// to `ds`, else overwriting it).
pub fn softmax_backward<I: Buffer, O: Buffer>(
    p: I,
    dp: I,
    ds: O,
    cols: usize,
    scale: f32,
    accumulate: bool,
) -> Result<Launch<I, O>, PlanError> {
    softmax_backward_of("softmax_backward", p, dp, ds, (cols, scale, accumulate))
}

/// The plan of a softmax backward kernel (`p` in f32 or bf16): both take the same parameters.
fn softmax_backward_of<I: Buffer, O: Buffer>(
    kernel: &'static str,
    p: I,
    dp: I,
    ds: O,
    (cols, scale, accumulate): (usize, f32, bool),
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("p", &p, cols)?;
    len("dp", &dp, rows * cols)?;
    len("ds", &ds, rows * cols)?;
    launch(
        kernel,
        launch::per_row(rows),
        vec![
            Param::In(p),
            Param::In(dp),
            Param::Out(ds),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::F32(scale),
            Param::I32(i32::from(accumulate)),
        ],
    )
}

/// `softmax_backward_bf16_out`: `ds` (bf16 bits, overwritten) = `scale·p ⊙ (dp − Σ dp ⊙ p)`
/// per row, `p` in bf16 bits, `dp` f32, all `(rows, cols)`.
pub fn softmax_backward_bf16_out<I: Buffer, O: Buffer>(
    p: I,
    dp: I,
    ds: O,
    cols: usize,
    scale: f32,
) -> Result<Launch<I, O>, PlanError> {
    let mut plan =
        softmax_backward_of("softmax_backward_bf16_out", p, dp, ds, (cols, scale, false))?;
    plan.params.pop(); // no `accumulate`: ds is overwritten
    Ok(plan)
}

/// `softmax_forward_bf16`: `p` (bf16 bits) = `softmax(scale·s)` per row of `s` `(rows, cols)`.
pub fn softmax_forward_bf16<I: Buffer, O: Buffer>(
    s: I,
    p: O,
    cols: usize,
    scale: f32,
) -> Result<Launch<I, O>, PlanError> {
    softmax_forward_of("softmax_forward_bf16", s, p, cols, scale)
}

/// `softmax_backward_bf16`: [`softmax_backward`] with `p` in bf16 bits.
pub fn softmax_backward_bf16<I: Buffer, O: Buffer>(
    p: I,
    dp: I,
    ds: O,
    cols: usize,
    scale: f32,
    accumulate: bool,
) -> Result<Launch<I, O>, PlanError> {
    softmax_backward_of(
        "softmax_backward_bf16",
        p,
        dp,
        ds,
        (cols, scale, accumulate),
    )
}

// ---- gelu.cu ------------------------------------------------------------------------------

/// `gelu_forward_keep_bf16`: `y = gelu(x)` and `keep` = `x` in bf16, element by element
/// (`x`, `y` `(n,)` f32, `keep` `(n,)` bf16).
pub fn gelu_forward_keep_bf16<I: Buffer, O: Buffer>(
    x: I,
    y: O,
    keep: O,
) -> Result<Launch<I, O>, PlanError> {
    let n = x.len();
    len("y", &y, n)?;
    len("keep", &keep, n)?;
    launch(
        "gelu_forward_keep_bf16",
        launch::per_element(n),
        vec![
            Param::In(x),
            Param::Out(y),
            Param::Out(keep),
            Param::I32(int("n", n)?),
        ],
    )
}

/// `gelu_backward_bf16`: `dx += dy·gelu'(keep)` (`dy`, `dx` `(n,)` f32, `keep` `(n,)` bf16).
pub fn gelu_backward_bf16<I: Buffer, O: Buffer>(
    dy: I,
    keep: I,
    dx: O,
) -> Result<Launch<I, O>, PlanError> {
    let n = dy.len();
    len("keep", &keep, n)?;
    len("dx", &dx, n)?;
    launch(
        "gelu_backward_bf16",
        launch::per_element(n),
        vec![
            Param::In(dy),
            Param::In(keep),
            Param::Out(dx),
            Param::I32(int("n", n)?),
        ],
    )
}

/// `bias_gelu_forward`: `y = gelu(x + bias)` over `x` `(rows, cols)`; without a bias,
/// `gelu(x)`.
pub fn bias_gelu_forward<I: Buffer, O: Buffer>(
    x: I,
    bias: Option<I>,
    y: O,
    cols: usize,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("x", &x, cols)?;
    if let Some(b) = &bias {
        len("bias", b, cols)?;
    }
    len("y", &y, rows * cols)?;
    launch(
        "bias_gelu_forward",
        launch::per_element(rows * cols),
        vec![
            Param::In(x),
            optional(bias),
            Param::Out(y),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
        ],
    )
}

/// `bias_gelu_backward`: `dx = dy·gelu'(x + bias)` (`accumulate`: added to `dx`, else
/// overwriting it) and, with a bias, the partial sums of `db` `(parts, cols)`
/// ([`part_len`]); without one, no partial sums.
pub fn bias_gelu_backward<I: Buffer, O: Buffer>(
    dy: I,
    x: I,
    bias: Option<I>,
    dx: O,
    db_parts: Option<O>,
    cols: usize,
    accumulate: bool,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("x", &x, cols)?;
    len("dy", &dy, rows * cols)?;
    len("dx", &dx, rows * cols)?;
    if let Some(b) = &bias {
        len("bias", b, cols)?;
    }
    match &db_parts {
        Some(d) => len("db parts", d, part_len(rows, cols))?,
        None if bias.is_some() => {
            return Err(PlanError::Length {
                what: "db parts",
                want: part_len(rows, cols),
                got: 0,
            })
        }
        None => {}
    }
    launch(
        "bias_gelu_backward",
        launch::per_column(cols, launch::parts(rows)),
        vec![
            Param::In(dy),
            Param::In(x),
            optional(bias),
            Param::Out(dx),
            db_parts.map_or(Param::Null, Param::Out),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::I32(int("rows per part", launch::ROWS_PER_PART)?),
            Param::I32(i32::from(accumulate)),
        ],
    )
}

/// `bias_gelu_forward_bf16`: `h = x + bias` over fc1's product `x` `(rows, cols)`, `keep`
/// = `h` (when given: the backward's input) and `y` = `gelu(h)`, in bf16 bits `(rows, cols)`.
pub fn bias_gelu_forward_bf16<I: Buffer, O: Buffer>(
    x: I,
    bias: I,
    keep: Option<O>,
    y: O,
    cols: usize,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("x", &x, cols)?;
    len("bias", &bias, cols)?;
    if let Some(keep) = &keep {
        len("keep", keep, rows * cols)?;
    }
    len("y", &y, rows * cols)?;
    launch(
        "bias_gelu_forward_bf16",
        launch::per_element(rows * cols),
        vec![
            Param::In(x),
            Param::In(bias),
            keep.map_or(Param::Null, Param::Out),
            Param::Out(y),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
        ],
    )
}

/// `bias_gelu_backward_bf16`: `dh = dy·gelu'(keep)` in bf16 bits (`dy` f32, `keep` and `dh`
/// bf16, all `(rows, cols)`) and the partial sums of `db` `(parts, cols)` ([`part_len`]).
pub fn bias_gelu_backward_bf16<I: Buffer, O: Buffer>(
    dy: I,
    keep: I,
    dh: O,
    db_parts: O,
    cols: usize,
) -> Result<Launch<I, O>, PlanError> {
    let rows = rows_of("dy", &dy, cols)?;
    len("keep", &keep, rows * cols)?;
    len("dh", &dh, rows * cols)?;
    len("db parts", &db_parts, part_len(rows, cols))?;
    launch(
        "bias_gelu_backward_bf16",
        launch::per_column(cols, launch::parts(rows)),
        vec![
            Param::In(dy),
            Param::In(keep),
            Param::Out(dh),
            Param::Out(db_parts),
            Param::I32(int("rows", rows)?),
            Param::I32(int("cols", cols)?),
            Param::I32(int("rows per part", launch::ROWS_PER_PART)?),
        ],
    )
}

// ---- optimizer.cu -------------------------------------------------------------------------

/// `grad_sq_sum_partial`: per-block sums of `g²` into `partial` `(sq_sum_parts(n),)`.
pub fn grad_sq_sum_partial<I: Buffer, O: Buffer>(
    g: I,
    partial: O,
) -> Result<Launch<I, O>, PlanError> {
    let n = g.len();
    len("partial", &partial, launch::sq_sum_parts(n))?;
    launch(
        "grad_sq_sum_partial",
        launch::sq_sum_partial(n),
        vec![
            Param::In(g),
            Param::I32(int("n", n)?),
            Param::I32(int("per block", launch::SQ_SUM_PER_BLOCK)?),
            Param::Out(partial),
        ],
    )
}

/// `grad_sq_sum_finish`: `out = [Σ partial, clip factor]` for `max_norm` (`None`: 1).
pub fn grad_sq_sum_finish<I: Buffer, O: Buffer>(
    partial: I,
    max_norm: Option<f32>,
    out: O,
) -> Result<Launch<I, O>, PlanError> {
    len("out", &out, 2)?;
    let parts = partial.len();
    launch(
        "grad_sq_sum_finish",
        launch::sq_sum_finish(),
        vec![
            Param::In(partial),
            Param::I32(int("parts", parts)?),
            // A negative max_norm is the kernel's "no clipping".
            Param::F32(max_norm.unwrap_or(-1.0)),
            Param::Out(out),
        ],
    )
}

/// The flat state of one optimizer update: parameters `p`, gradient `g`, and an optional
/// per-element decay mask and clip factor `(1,)`, all over `n = p.len()` elements.
pub struct Flat<I, O> {
    pub p: O,
    pub g: I,
    pub decay_mask: Option<I>,
    pub clip: Option<I>,
}

impl<I: Buffer, O: Buffer> Flat<I, O> {
    fn check(&self) -> Result<usize, PlanError> {
        let n = self.p.len();
        len("g", &self.g, n)?;
        if let Some(d) = &self.decay_mask {
            len("decay_mask", d, n)?;
        }
        if let Some(c) = &self.clip {
            len("clip", c, 1)?;
        }
        Ok(n)
    }
}

/// `adamw_step` over `flat` with the moments `m`, `v` `(n,)`.
pub fn adamw_step<I: Buffer, O: Buffer>(
    flat: Flat<I, O>,
    m: O,
    v: O,
    args: &AdamwArgs,
) -> Result<Launch<I, O>, PlanError> {
    let n = flat.check()?;
    len("m", &m, n)?;
    len("v", &v, n)?;
    launch(
        "adamw_step",
        launch::per_element(n),
        vec![
            Param::Out(flat.p),
            Param::In(flat.g),
            Param::Out(m),
            Param::Out(v),
            optional(flat.decay_mask),
            optional(flat.clip),
            Param::I32(int("n", n)?),
            Param::F32(args.decay),
            Param::F32(args.beta1),
            Param::F32(args.beta2),
            Param::F32(args.one_minus_beta1),
            Param::F32(args.one_minus_beta2),
            Param::F32(args.step_size),
            Param::F32(args.sqrt_bc2),
            Param::F32(args.eps),
        ],
    )
}

/// `sgd_step` over `flat` with the momentum buffer `m` `(n,)`.
pub fn sgd_step<I: Buffer, O: Buffer>(
    flat: Flat<I, O>,
    m: O,
    args: &SgdArgs,
) -> Result<Launch<I, O>, PlanError> {
    let n = flat.check()?;
    len("m", &m, n)?;
    launch(
        "sgd_step",
        launch::per_element(n),
        vec![
            Param::Out(flat.p),
            Param::In(flat.g),
            Param::Out(m),
            optional(flat.decay_mask),
            optional(flat.clip),
            Param::I32(int("n", n)?),
            Param::F32(args.lr),
            Param::F32(args.weight_decay),
            Param::F32(args.momentum),
            Param::I32(i32::from(args.first)),
        ],
    )
}

/// `ema_update`: `e = e·decay + p·(1 − decay)` over `e`, `p` `(n,)`.
pub fn ema_update<I: Buffer, O: Buffer>(
    e: O,
    p: I,
    args: &EmaArgs,
) -> Result<Launch<I, O>, PlanError> {
    let n = e.len();
    len("p", &p, n)?;
    launch(
        "ema_update",
        launch::per_element(n),
        vec![
            Param::Out(e),
            Param::In(p),
            Param::I32(int("n", n)?),
            Param::F32(args.decay),
            Param::F32(args.one_minus_decay),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FAMILIES;

    #[test]
    fn every_planned_kernel_exists_in_a_family() {
        let (x, g) = (vec![0.0f32; 12], vec![0.0f32; 4]);
        let (mut y, mut m, mut r) = (vec![0.0f32; 12], vec![0.0f32; 3], vec![0.0f32; 3]);
        let l = layer_norm_forward(
            &x[..],
            &g[..],
            &g[..],
            RowOutputs {
                y: &mut y[..],
                mean: &mut m[..],
                rstd: &mut r[..],
            },
            4,
            1e-6,
        )
        .expect("plan");
        assert_eq!(l.params.len(), 9);
        assert!(FAMILIES.iter().any(|f| f.kernels.contains(&l.kernel)));
    }

    #[test]
    fn lengths_are_checked_before_a_launch_exists() {
        let (x, g) = (vec![0.0f32; 12], vec![0.0f32; 4]);
        let mut p = [0.0f32; 11];
        let err = softmax_forward(&x[..], &mut p[..], 4, 1.0).expect_err("short p");
        assert_eq!(
            err,
            PlanError::Length {
                what: "p",
                want: 12,
                got: 11
            }
        );
        let mut dx = [0.0f32; 12];
        let err = bias_gelu_backward(&x[..], &x[..], Some(&g[..]), &mut dx[..], None, 4, false)
            .expect_err("a bias needs its partial sums");
        assert!(matches!(
            err,
            PlanError::Length {
                what: "db parts",
                ..
            }
        ));
    }
}
