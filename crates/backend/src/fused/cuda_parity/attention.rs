//! `cuda/attention.cu`'s head-layout copies against dfdx's CPU ops running
//! `compose::attention`'s exact sequence: the three column slices of qkv `(B, T, 3D)`, each
//! reshaped to `(B, T, H, hd)`, permuted to `(B, H, T, hd)` and reshaped to `(B·H, T, hd)`;
//! and the merge of the heads back to `(B, T, D)`. Forward and backward: the kernels are
//! copies and their backward one addition per element, so every check is bit for bit.

use super::values;
use deitc_kernels::plan::HeadShape;
use deitc_kernels::sim;
use dfdx::prelude::*;

/// `(B, T, H, hd)`: one element; one head; T not a multiple of 32 and T·hd not a multiple
/// of 256 (a block's threads); a head dimension below a warp; DeiT's 197 tokens.
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (1, 1, 1, 1),
    (1, 7, 1, 5),
    (2, 33, 3, 4),
    (3, 17, 2, 8),
    (2, 50, 4, 16),
    (2, 197, 3, 8),
];

fn shape((batch, tokens, heads, head_dim): (usize, usize, usize, usize)) -> HeadShape {
    HeadShape {
        batch,
        tokens,
        heads,
        head_dim,
    }
}

/// A flat `(a, b, c)` tensor on the CPU.
type Flat3<T> = Tensor<(usize, usize, usize), f32, Cpu, T>;

/// compose's split of one part of qkv `(B, T, D)` into heads `(B·H, T, hd)`.
fn heads<T: Tape<f32, Cpu>>(x: Flat3<T>, s: HeadShape) -> Flat3<T> {
    x.reshape_like(&(s.batch, s.tokens, s.heads, s.head_dim)) // (B, T, H, hd)
        .permute::<_, Axes4<0, 2, 1, 3>>() // (B, H, T, hd)
        .reshape_like(&(s.batch * s.heads, s.tokens, s.head_dim)) // (B·H, T, hd)
}

/// compose's merge of heads `(B·H, T, hd)` into rows `(B, T, D)`.
fn merge<T: Tape<f32, Cpu>>(o: Flat3<T>, s: HeadShape) -> Flat3<T> {
    o.reshape_like(&(s.batch, s.heads, s.tokens, s.head_dim)) // (B, H, T, hd)
        .permute::<_, Axes4<0, 2, 1, 3>>() // (B, T, H, hd)
        .reshape_like(&(s.batch, s.tokens, s.heads * s.head_dim)) // (B, T, D)
}

/// `Σ x ⊙ g`: its gradient with respect to `x` is `g`, exactly.
fn dot<T: Tape<f32, Cpu>>(x: Flat3<T>, g: &[f32]) -> Tensor<(), f32, Cpu, T> {
    let shape = *x.shape();
    let g = x.device().tensor_from_vec(g.to_vec(), shape);
    (x * g).sum()
}

/// The CPU path of the split: q, k, v `(B·H, T, hd)` of `qkv (B, T, 3D)`, and qkv's
/// gradient from the heads' gradients `g` (q, k, v in order), the tape threaded as
/// `compose::attention` threads it (q carries it, k and v start empty ones).
fn cpu_split(qkv: &[f32], g: [&[f32]; 3], s: HeadShape) -> ([Vec<f32>; 3], Vec<f32>) {
    let dev = Cpu::default();
    let d = s.heads * s.head_dim;
    let x = dev.tensor_from_vec(qkv.to_vec(), (s.batch, s.tokens, 3 * d)); // (B, T, 3D)
    let (xt, tape) = x.leaky_trace().split_tape();
    let q = heads(xt.clone().put_tape(tape).slice((.., .., 0..d)), s);
    let k = heads(
        xt.retaped::<OwnedTape<f32, Cpu>>()
            .slice((.., .., d..2 * d)),
        s,
    );
    let v = heads(
        xt.retaped::<OwnedTape<f32, Cpu>>()
            .slice((.., .., 2 * d..3 * d)),
        s,
    );
    let out = [q.as_vec(), k.as_vec(), v.as_vec()];
    let loss = dot(q, g[0]) + dot(k, g[1]) + dot(v, g[2]);
    (out, loss.backward().get(&x).as_vec())
}

/// The CPU path of the merge: rows `(B, T, D)` of heads `o (B·H, T, hd)`, and o's gradient
/// from the rows' gradient `g`.
fn cpu_merge(o: &[f32], g: &[f32], s: HeadShape) -> (Vec<f32>, Vec<f32>) {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(o.to_vec(), (s.batch * s.heads, s.tokens, s.head_dim));
    let y = merge(x.leaky_trace(), s);
    let rows = y.as_vec();
    (rows, dot(y, g).backward().get(&x).as_vec())
}

fn same(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{what}[{i}]: kernel {a} vs dfdx {b}"
        );
    }
}

/// `a + b` element by element: what an accumulating backward leaves in `a`.
fn plus(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(a, b)| a + b).collect()
}

#[test]
fn qkv_to_heads_matches_the_composed_split_bit_for_bit() {
    for &dims in SHAPES {
        let s = shape(dims);
        let n = s.len();
        let qkv = values(3 * n, 51, 2.0); // (B, T, 3D)
        let g = [values(n, 52, 1.0), values(n, 53, 1.0), values(n, 54, 1.0)];
        let ([q, k, v], dqkv) = cpu_split(&qkv, [&g[0], &g[1], &g[2]], s);
        let heads = sim::qkv_to_heads(&qkv, None, s).expect("sim");
        same(&format!("q {dims:?}"), &heads.q, &q);
        same(&format!("k {dims:?}"), &heads.k, &k);
        same(&format!("v {dims:?}"), &heads.v, &v);
        // The backward adds into what the gradient holds ...
        let before = values(3 * n, 55, 1.0);
        let mut acc = before.clone();
        sim::heads_to_qkv(&g[0], &g[1], &g[2], &mut acc, s, true).expect("sim");
        same(&format!("dqkv {dims:?}"), &acc, &plus(&before, &dqkv));
        // ... or, as a new gradient's first writer, overwrites it without reading it.
        let mut new = vec![f32::NAN; 3 * n];
        sim::heads_to_qkv(&g[0], &g[1], &g[2], &mut new, s, false).expect("sim");
        same(&format!("dqkv, first write {dims:?}"), &new, &dqkv);
    }
}

#[test]
fn the_split_adds_the_bias_and_rounds_to_bf16_once() {
    // With the qkv bias folded in, the split is the composed split of `qkv + bias` (the
    // Linear's own bias rows), bit for bit; its bf16 form is that split rounded.
    for &dims in SHAPES {
        let s = shape(dims);
        let n = s.len();
        let width = 3 * s.heads * s.head_dim;
        let qkv = values(3 * n, 56, 2.0); // (B, T, 3D)
        let bias = values(width, 57, 1.0); // (3D,)
        let biased: Vec<f32> = qkv
            .chunks(width)
            .flat_map(|row| row.iter().zip(&bias).map(|(x, b)| x + b))
            .collect();
        let g = vec![0.0; n];
        let ([q, k, v], _) = cpu_split(&biased, [&g, &g, &g], s);
        let heads = sim::qkv_to_heads(&qkv, Some(&bias), s).expect("sim");
        same(&format!("q {dims:?}"), &heads.q, &q);
        same(&format!("k {dims:?}"), &heads.k, &k);
        same(&format!("v {dims:?}"), &heads.v, &v);
        let rounded = sim::qkv_to_heads_bf16(&qkv, Some(&bias), s).expect("sim");
        for (name, got, want) in [
            ("q", &rounded.q, &q),
            ("k", &rounded.k, &k),
            ("v", &rounded.v, &v),
        ] {
            assert_eq!(
                got,
                &sim::f32_to_bf16(want).expect("sim"),
                "{name} {dims:?}"
            );
        }
    }
    let s = shape((2, 5, 3, 4));
    let err = sim::qkv_to_heads(&vec![0.0; 3 * s.len()], Some(&[0.0; 5]), s).map(|_| ());
    assert!(
        matches!(err, Err(sim::SimError::Length { what: "bias", .. })),
        "{err:?}"
    );
}

#[test]
fn heads_to_rows_matches_the_composed_merge_bit_for_bit() {
    for &dims in SHAPES {
        let s = shape(dims);
        let n = s.len();
        let o = values(n, 61, 2.0); // (B·H, T, hd)
        let g = values(n, 62, 1.0); // (B, T, D)
        let (rows, d_o) = cpu_merge(&o, &g, s);
        same(
            &format!("y {dims:?}"),
            &sim::heads_to_rows(&o, s).expect("sim"),
            &rows,
        );
        let before = values(n, 63, 1.0);
        let mut acc = before.clone();
        sim::rows_to_heads(&g, &mut acc, s, true).expect("sim");
        same(&format!("do {dims:?}"), &acc, &plus(&before, &d_o));
        let mut new = vec![f32::NAN; n];
        sim::rows_to_heads(&g, &mut new, s, false).expect("sim");
        same(&format!("do, first write {dims:?}"), &new, &d_o);
    }
}

#[test]
fn the_copies_are_inverse_permutations() {
    // Merge ∘ split of one part is the identity on its columns, and NaNs move with their
    // element: every element has exactly one source.
    let s = shape((2, 33, 3, 4));
    let n = s.len();
    let mut qkv = values(3 * n, 71, 1.0);
    qkv[3 * s.heads * s.head_dim + 5] = f32::NAN; // token 1, q column 5
    let heads = sim::qkv_to_heads(&qkv, None, s).expect("sim");
    let d = s.heads * s.head_dim;
    for (part, h) in [&heads.q, &heads.k, &heads.v].into_iter().enumerate() {
        let rows = sim::heads_to_rows(h, s).expect("sim"); // (B, T, D)
        let want: Vec<f32> = qkv
            .chunks(3 * d)
            .flat_map(|row| row[part * d..(part + 1) * d].to_vec())
            .collect();
        same(&format!("part {part}"), &rows, &want);
        assert_eq!(
            h.iter().filter(|x| x.is_nan()).count(),
            usize::from(part == 0)
        );
    }
}

#[test]
fn wrong_lengths_are_errors_not_reads_out_of_bounds() {
    let s = shape((2, 5, 3, 4));
    let n = s.len();
    let err = sim::qkv_to_heads(&vec![0.0; 3 * n - 1], None, s).map(|_| ());
    assert!(
        matches!(err, Err(sim::SimError::Length { what: "qkv", .. })),
        "{err:?}"
    );
    let g = vec![0.0; n];
    let err = sim::heads_to_qkv(&g, &g, &g, &mut vec![0.0; 3 * n + 1], s, true);
    assert!(
        matches!(err, Err(sim::SimError::Length { what: "dqkv", .. })),
        "{err:?}"
    );
    let err = sim::rows_to_heads(&g, &mut vec![0.0; n - 1], s, true);
    assert!(
        matches!(err, Err(sim::SimError::Length { what: "do", .. })),
        "{err:?}"
    );
}
