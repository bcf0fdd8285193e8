//! The dfdx-op composition of every [`Kernels`] method: the default bodies, and the
//! reference the fused kernels are tested against. They run on any dfdx device.
//!
//! Each composite calls the device's own primitives (`D::linear`, `D::layer_norm`, …), so a
//! device that fuses a primitive gets it inside the composites too.

use dfdx::nn::modules::{LayerNorm1D, Linear};
use dfdx::nn::Module;
use dfdx::prelude::*;

use super::{AttentionParts, DropPath, Dropout, Kernels, MlpParts, Rows, Scores};

/// `norm.try_forward(x)`: dfdx's LayerNorm over the last axis.
pub fn layer_norm<B: Dim, Tok: Dim, const M: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    norm: &LayerNorm1D<M, E, D>,
    x: Rows<B, Tok, M, E, D, T>,
) -> Result<Rows<B, Tok, M, E, D, T>, D::Err> {
    norm.try_forward(x)
}

/// `lin` on the token rows of `x (B, T, I)` as one `(B·T, I)` matrix: one product each way
/// and one for the weight's gradient. (On a `(B, T, I)` tensor, dfdx's `Linear` runs a
/// batched product against the broadcast weight, and on CUDA its weight gradient is B
/// products in sequence.) Flattening a contiguous tensor and restoring the token axis are
/// views; a strided `x` is copied once.
#[allow(clippy::type_complexity)]
pub fn linear<B: Dim, Tok: Dim, const I: usize, const O: usize, E: Dtype, D: Device<E>, T>(
    lin: &Linear<I, O, E, D>,
    x: Rows<B, Tok, I, E, D, T>,
) -> Result<Rows<B, Tok, O, E, D, T>, D::Err>
where
    T: Tape<E, D>,
{
    let (b, t, _) = *x.shape();
    let rows = x.try_reshape_like(&(b.size() * t.size(), Const::<I>))?; // (B·T, I)
    lin.try_forward(rows)? // (B·T, O)
        .try_reshape_like(&(b, t, Const::<O>)) // (B, T, O)
}

/// Exact (erf) GELU, `0.5·x·(1 + erf(x/√2))` (PyTorch's `nn.GELU()`), with its exact
/// gradient `Φ(x) + x·φ(x)`: dfdx's `accurate_gelu`. (Upstream dfdx 0.13's backward
/// returned `Φ(x) + √2·x·φ(x)` on CPU and CUDA alike; the vendored copy fixes both kernels,
/// vendor/dfdx/PATCHES.md.)
pub fn gelu<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    x.try_accurate_gelu()
}

/// `x (B, T, M)` times the per-sample `scales` broadcast over tokens and features.
pub fn scale_samples<Tok: Dim, const M: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Rows<usize, Tok, M, E, D, T>,
    scales: Vec<E>,
) -> Result<Rows<usize, Tok, M, E, D, T>, D::Err> {
    let shape = *x.shape();
    let mask = x.device().try_tensor_from_vec(scales, (shape.0,))?; // (B,)
    let mask = mask.try_broadcast_like::<_, Axes2<1, 2>>(&shape)?; // (B, T, M)
    x.try_mul(mask)
}

/// Inverted dropout: `x` times the mask `drop` draws on the host ([`Dropout::mask`], one
/// factor per element in row-major order), uploaded as a tensor of x's shape; the identity
/// without a draw. The product is the kernel's (`dropout_forward`), so the values are the
/// same bits on every device; the mask is kept on the tape for the backward.
pub fn dropout<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    drop: Option<Dropout>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    let Some(drop) = drop else {
        return Ok(x);
    };
    let shape = *x.shape();
    let mask = drop.mask(shape.num_elements()); // (numel,)
    let mask = x.device().try_tensor_from_vec(mask, shape)?; // x's shape
    x.try_mul(mask)
}

/// The attention branch: `qkv`, the heads split by slices and permutes,
/// softmax(q kᵀ · scale) v, the heads merged back in order, `proj`. The B·H heads form one
/// batch axis, so each product is one batched product (on a 4-D `(B, H, …)` tensor, dfdx
/// runs one batched product per sample).
#[allow(clippy::type_complexity)]
pub fn attention<B: Dim, Tok: Dim, const D: usize, const D3: usize, E: Dtype, Dev: Kernels<E>, T>(
    parts: AttentionParts<'_, D, D3, E, Dev>,
    x: Rows<B, Tok, D, E, Dev, T>,
) -> Result<Rows<B, Tok, D, E, Dev, T>, Dev::Err>
where
    T: Tape<E, Dev>,
{
    let h = parts.heads;
    let hd = D / h.max(1);
    let qkv = Dev::linear(parts.qkv, x)?; // (B, T, 3D)
    let (b, s, _) = *qkv.shape();
    let bh = b.size() * h;
    // q carries the tape; k and v start empty ones that merge back in the matmuls.
    let (qkv, tape) = qkv.split_tape();
    // Columns `part` of qkv, one `(T, hd)` matrix per (sample, head): `(B·H, T, hd)`.
    let heads = |x: Tensor<(B, Tok, usize), E, Dev, T>| {
        x.try_reshape_like(&(b, s, h, hd))? // (B, T, H, hd)
            .try_permute::<_, Axes4<0, 2, 1, 3>>()? // (B, H, T, hd)
            .try_reshape_like(&(bh, s, hd)) // (B·H, T, hd)
    };
    let q = heads(qkv.clone().put_tape(tape).try_slice((.., .., 0..D))?)?;
    let k = heads(qkv.clone().retaped::<T>().try_slice((.., .., D..2 * D))?)?;
    let v = heads(qkv.retaped::<T>().try_slice((.., .., 2 * D..3 * D))?)?;
    let k = k.try_permute::<_, Axes3<0, 2, 1>>()?; // (B·H, hd, T)
    let attn = Dev::scaled_softmax(q.try_matmul(k)?, parts.scale)?; // (B·H, T, T)
    let merged = attn
        .try_matmul(v)? // (B·H, T, hd)
        .try_reshape_like(&(b, h, s, hd))? // (B, H, T, hd)
        .try_permute::<_, Axes4<0, 2, 1, 3>>()? // (B, T, H, hd)
        .try_reshape_like(&(b, s, Const::<D>))?; // (B, T, D)
    Dev::linear(parts.proj, merged) // (B, T, D)
}

/// `softmax(scale·s)` over the last axis of `s (B·H, T, T)`: a scale, then dfdx's softmax.
pub fn scaled_softmax<Tok: Dim, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    s: Scores<Tok, E, D, T>,
    scale: f64,
) -> Result<Scores<Tok, E, D, T>, D::Err> {
    s.try_mul(E::from_f64(scale).unwrap_or_default())?
        .try_softmax::<Axis<2>>()
}

/// The MLP branch: `fc2(gelu(fc1(x)))`.
pub fn mlp<B: Dim, Tok: Dim, const D: usize, const F: usize, E: Dtype, Dev: Kernels<E>, T>(
    parts: MlpParts<'_, D, F, E, Dev>,
    x: Rows<B, Tok, D, E, Dev, T>,
) -> Result<Rows<B, Tok, D, E, Dev, T>, Dev::Err>
where
    T: Tape<E, Dev>,
{
    let h = Dev::gelu(Dev::linear(parts.fc1, x)?)?; // (B, T, F)
    Dev::linear(parts.fc2, h) // (B, T, D)
}

/// `x + s_b·f(norm(x))`: the norm, the branch `f`, the per-sample scaling (when `drop`
/// draws one, on the host) and the residual add, as separate ops.
fn sublayer<Tok: Dim, const D: usize, E: Dtype, Dev: Kernels<E>, T: Tape<E, Dev>>(
    norm: &LayerNorm1D<D, E, Dev>,
    x: Rows<usize, Tok, D, E, Dev, T>,
    drop: Option<DropPath>,
    f: impl FnOnce(Rows<usize, Tok, D, E, Dev, T>) -> Result<Rows<usize, Tok, D, E, Dev, T>, Dev::Err>,
) -> Result<Rows<usize, Tok, D, E, Dev, T>, Dev::Err> {
    let b = x.shape().0;
    let (x, tape) = x.split_tape();
    let y = f(Dev::layer_norm(norm, x.clone().put_tape(tape))?)?; // (B, T, D)
    let y = match drop {
        Some(d) => Dev::scale_samples(y, d.scales(b))?,
        None => y,
    };
    y.try_add(x) // (B, T, D)
}

/// A pre-norm block's attention sublayer, `x + s_b·attention(norm(x))`.
#[allow(clippy::type_complexity)]
pub fn attention_sublayer<Tok: Dim, const D: usize, const D3: usize, E: Dtype, Dev: Kernels<E>, T>(
    norm: &LayerNorm1D<D, E, Dev>,
    parts: AttentionParts<'_, D, D3, E, Dev>,
    x: Rows<usize, Tok, D, E, Dev, T>,
    drop: Option<DropPath>,
) -> Result<Rows<usize, Tok, D, E, Dev, T>, Dev::Err>
where
    T: Tape<E, Dev>,
{
    sublayer(norm, x, drop, |y| Dev::attention(parts, y))
}

/// A pre-norm block's MLP sublayer, `x + s_b·mlp(norm(x))`.
pub fn mlp_sublayer<Tok: Dim, const D: usize, const F: usize, E: Dtype, Dev: Kernels<E>, T>(
    norm: &LayerNorm1D<D, E, Dev>,
    parts: MlpParts<'_, D, F, E, Dev>,
    x: Rows<usize, Tok, D, E, Dev, T>,
    drop: Option<DropPath>,
) -> Result<Rows<usize, Tok, D, E, Dev, T>, Dev::Err>
where
    T: Tape<E, Dev>,
{
    sublayer(norm, x, drop, |y| Dev::mlp(parts, y))
}

/// A pre-norm block without dropout as its two sublayers, through the device's methods.
#[allow(clippy::type_complexity)]
pub fn block<Tok: Dim, const D: usize, const D3: usize, const F: usize, E: Dtype, Dev, T>(
    norms: [&LayerNorm1D<D, E, Dev>; 2],
    (attention, mlp): (
        AttentionParts<'_, D, D3, E, Dev>,
        MlpParts<'_, D, F, E, Dev>,
    ),
    x: Rows<usize, Tok, D, E, Dev, T>,
    drops: [Option<DropPath>; 2],
) -> Result<Rows<usize, Tok, D, E, Dev, T>, Dev::Err>
where
    Dev: Kernels<E>,
    T: Tape<E, Dev>,
{
    let x = Dev::attention_sublayer(norms[0], attention, x, drops[0])?; // (B, T, D)
    Dev::mlp_sublayer(norms[1], mlp, x, drops[1]) // (B, T, D)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf_gelu(x: f64) -> f64 {
        // Finite differences of the forward dfdx computes, in f64.
        let dev = Cpu::default();
        let t: Tensor<Rank1<1>, f64, _> = dev.tensor([x]);
        t.accurate_gelu().array()[0]
    }

    #[test]
    fn gelu_gradient_is_exact() {
        let dev = Cpu::default();
        let xs = [-3.0, -1.5, -0.3, 0.0, 0.2, 1.0, 2.5];
        let x: Tensor<Rank1<7>, f64, _> = dev.tensor(xs);
        let y = gelu(x.leaky_trace()).unwrap();
        assert_eq!(y.array(), x.clone().accurate_gelu().array());
        let g = y.sum().backward().get(&x).array();
        for (i, &xi) in xs.iter().enumerate() {
            let h = 1e-6;
            let fd = (erf_gelu(xi + h) - erf_gelu(xi - h)) / (2.0 * h);
            assert!((g[i] - fd).abs() < 1e-8, "x = {xi}: {} vs {fd}", g[i]);
        }
    }

    #[test]
    fn drop_non_leaf_frees_only_non_leaf_gradients_of_alloc_grads() {
        // vendor/dfdx patch 7: what the CUDA ops call on their outputs after their backward.
        let dev = Cpu::default();
        let w: Tensor<Rank1<3>, f64, _> = dev.tensor([1.0, 2.0, 3.0]); // a leaf
        let t: Tensor<Rank1<2>, f64, _> = dev.tensor([4.0, 5.0]); // an intermediate
        let mut grads = w.alloc_grads();
        grads.try_alloc_for(&t.ghost()).expect("alloc");
        grads.drop_non_leaf(&t.ghost());
        grads.drop_non_leaf(&w.ghost());
        assert!(grads.get_ref_checked(&t).is_none());
        assert!(grads.get_ref_checked(&w).is_some());
        // Leaky gradients (no leaf ids) keep everything.
        let mut leaky = Gradients::<f64, Cpu>::leaky();
        leaky.try_alloc_for(&t.ghost()).expect("alloc");
        leaky.drop_non_leaf(&t.ghost());
        assert!(leaky.get_ref_checked(&t).is_some());
    }

    #[test]
    fn overlapping_slices_sum_their_gradients() {
        // vendor/dfdx patch 4: the CPU `slice` backward adds into the input's gradient.
        let dev = Cpu::default();
        let x: Tensor<Rank1<4>, f64, _> = dev.tensor([1.0, 2.0, 3.0, 4.0]);
        let y = x.leaky_trace().slice((0..3,)).sum() + x.leaky_trace().slice((1..4,)).sum();
        assert_eq!(y.backward().get(&x).array(), [1.0, 2.0, 2.0, 1.0]);
    }
}
