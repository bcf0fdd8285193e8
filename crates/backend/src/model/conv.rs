//! 3×3 "same" convolution, 2×2 average pooling and global average pooling, composed from
//! dfdx 0.13 tensor ops (its `Conv2D` and pooling modules need the `nightly` feature, which
//! no longer builds).
//!
//! **Layout.** Inside a convolutional network, feature maps are *channels-last*:
//! [`FeatureMap`] `(B, H, W, C)`, row-major, so that `reshape (B·H·W, C)` is free and every
//! pixel is one row of a matrix. [`to_channels_last`] / [`to_channels_first`] convert from and
//! to PyTorch's NCHW. Weights keep PyTorch's Conv2d layout `[Cout, Cin, 3, 3]`.
//!
//! **Convolution (im2col by one gather, then one matmul).** For input rows `X (B·H·W, Cin)`:
//! 1. append one zero row: `Xz = [X; 0]` `(B·H·W + 1, Cin)` (one `concat_along`);
//! 2. gather rows of `Xz` with a host-computed index of length `B·H·W·9`: entry
//!    `(p, k)` (pixel `p = (b, y, x)`, tap `k = 3·ky + kx`) is the row of pixel
//!    `(b, y + ky − 1, x + kx − 1)`, or the zero row when that lies outside the image (zero
//!    padding 1). Reshaped, this is the im2col matrix `(B·H·W, 9·Cin)`, columns `(k, c)`;
//! 3. multiply by the weight permuted to `[3, 3, Cin, Cout]` and reshaped `(9·Cin, Cout)`,
//!    and add the bias: `(B·H·W, Cout)`, i.e. `(B, H, W, Cout)`.
//!
//! This is PyTorch's `conv2d(x, w, b, padding=1)` (a cross-correlation) for any H, W ≥ 1.
//! Every step has a backward pass in dfdx: gather's scatters with `+=` (`atomicAdd` on CUDA),
//! so the nine overlapping reads of one pixel sum their gradients (one gather, where nine
//! `slice`s would be nine ops on the tape). Only device-generic ops are used (no host loops over tensor data), so the same code runs
//! on `Cpu` and `Cuda`; the gather index depends only on `(B, H, W)` and is uploaded per call.

use dfdx::nn::{Module, ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;

use super::init::SplitMix64;

/// Channels-last feature maps `(B, H, W, C)`: runtime batch and spatial sizes.
pub type FeatureMap<const C: usize, E, Dev, Tp = NoneTape> =
    Tensor<(usize, usize, usize, Const<C>), E, Dev, Tp>;

/// Channels-first (PyTorch NCHW) feature maps `(B, C, H, W)`.
pub type NchwMap<const C: usize, E, Dev, Tp = NoneTape> =
    Tensor<(usize, Const<C>, usize, usize), E, Dev, Tp>;

/// One vector per image `(B, C)`.
pub type Pooled<const C: usize, E, Dev, Tp = NoneTape> = Tensor<(usize, Const<C>), E, Dev, Tp>;

/// Images NCHW `(B, C, H, W)` (any mix of `usize`/`Const` dims) → channels-last `(B, H, W, C)`
/// (a permuted view; the next convolution makes it contiguous).
///
/// # Panics
/// If the channel count is not `C`.
pub fn to_channels_last<S, const C: usize, E, Dev, Tp>(
    x: Tensor<S, E, Dev, Tp>,
) -> Result<FeatureMap<C, E, Dev, Tp>, Dev::Err>
where
    S: Shape<Concrete = [usize; 4]>,
    E: Dtype,
    Dev: Device<E>,
    Tp: Tape<E, Dev>,
{
    let [b, c, h, w] = x.shape().concrete();
    assert_eq!(
        c,
        C,
        "input (B, C, H, W) = {:?} needs C = {C}",
        [b, c, h, w]
    );
    x.try_reshape_like(&(b, Const::<C>, h, w))? // (B, C, H, W)
        .try_permute::<_, Axes4<0, 2, 3, 1>>() // (B, H, W, C)
}

/// Channels-last `(B, H, W, C)` → contiguous NCHW `(B, C, H, W)`.
pub fn to_channels_first<const C: usize, E, Dev, Tp>(
    x: FeatureMap<C, E, Dev, Tp>,
) -> Result<NchwMap<C, E, Dev, Tp>, Dev::Err>
where
    E: Dtype,
    Dev: Device<E>,
    Tp: Tape<E, Dev>,
{
    x.try_permute::<_, Axes4<0, 3, 1, 2>>()? // (B, C, H, W), strided
        .try_contiguous()
}

/// The im2col gather index for a `(B, H, W)` grid: `(b, y, x, k)` → source row, `B·H·W` (the
/// appended zero row) for taps in the padding.
fn im2col_index(b: usize, h: usize, w: usize) -> Vec<usize> {
    let zero_row = b * h * w;
    let mut idx = Vec::with_capacity(zero_row * 9);
    for bi in 0..b {
        for y in 0..h {
            for x in 0..w {
                for ky in 0..3 {
                    for kx in 0..3 {
                        // (y + ky − 1, x + kx − 1), written without going below zero.
                        let (sy, sx) = (y + ky, x + kx);
                        let inside = (1..=h).contains(&sy) && (1..=w).contains(&sx);
                        idx.push(match inside {
                            true => (bi * h + sy - 1) * w + sx - 1,
                            false => zero_row,
                        });
                    }
                }
            }
        }
    }
    idx
}

/// 3×3 convolution, stride 1, zero padding 1 ("same"), with bias: `(B, H, W, I)` →
/// `(B, H, W, O)`. `weight` is PyTorch's `[O, I, 3, 3]`. See the module docs for the method.
pub fn conv3x3<const I: usize, const O: usize, E, Dev, Tp>(
    x: FeatureMap<I, E, Dev, Tp>,
    weight: &Tensor<Rank4<O, I, 3, 3>, E, Dev>,
    bias: &Tensor<Rank1<O>, E, Dev>,
) -> Result<FeatureMap<O, E, Dev, Tp>, Dev::Err>
where
    E: Dtype,
    Dev: Device<E>,
    Tp: Tape<E, Dev>,
{
    let (b, h, w, _) = *x.shape();
    let n = b * h * w;
    let dev = x.device().clone();
    let rows = x.try_reshape_like(&(n, Const::<I>))?; // (B·H·W, I)
    let zero = dev.try_zeros_like(&(1usize, Const::<I>))?; // (1, I)
    let rows = (rows, zero).try_concat_along(Axis::<0>)?; // (B·H·W + 1, I)
    let idx = dev.try_tensor_from_vec(im2col_index(b, h, w), (n * 9,))?; // (B·H·W·9,)
    let cols = rows.try_gather::<(usize, Const<I>), _>(idx)?; // (B·H·W·9, I)
    let cols = cols.try_reshape_like(&(n, 9 * I))?; // (B·H·W, 9·I), columns (ky, kx, c)
    let kernel = weight
        .retaped::<Tp>()
        .try_permute::<_, Axes4<2, 3, 1, 0>>()? // (3, 3, I, O)
        .try_reshape_like(&(9 * I, Const::<O>))?; // (9·I, O)
    let y = cols.try_matmul(kernel)?; // (B·H·W, O)
    let bias = bias
        .retaped::<Tp>()
        .try_broadcast_like::<_, Axis<0>>(&(n, Const::<O>))?; // (B·H·W, O)
    y.try_add(bias)?.try_reshape_like(&(b, h, w, Const::<O>)) // (B, H, W, O)
}

/// 2×2 average pooling, stride 2: `(B, H, W, C)` → `(B, H/2, W/2, C)`.
///
/// # Panics
/// If H or W is odd.
pub fn avg_pool2x2<const C: usize, E, Dev, Tp>(
    x: FeatureMap<C, E, Dev, Tp>,
) -> Result<FeatureMap<C, E, Dev, Tp>, Dev::Err>
where
    E: Dtype,
    Dev: Device<E>,
    Tp: Tape<E, Dev>,
{
    let (b, h, w, _) = *x.shape();
    assert!(
        h % 2 == 0 && w % 2 == 0,
        "2×2 average pooling needs even H, W; got {h}×{w}"
    );
    x.try_reshape_like(&(b, h / 2, 2usize, w / 2, 2usize, Const::<C>))? // (B, H/2, 2, W/2, 2, C)
        .try_mean::<(usize, usize, usize, Const<C>), Axes2<2, 4>>() // (B, H/2, W/2, C)
}

/// Global average pooling: `(B, H, W, C)` → `(B, C)`.
pub fn global_avg_pool<const C: usize, E, Dev, Tp>(
    x: FeatureMap<C, E, Dev, Tp>,
) -> Result<Pooled<C, E, Dev, Tp>, Dev::Err>
where
    E: Dtype,
    Dev: Device<E>,
    Tp: Tape<E, Dev>,
{
    let (b, h, w, _) = *x.shape();
    x.try_reshape_like(&(b, h * w, Const::<C>))? // (B, H·W, C)
        .try_mean::<(usize, Const<C>), Axis<1>>() // (B, C)
}

/// Kaiming-normal, fan-out mode, ReLU gain (torchvision/timm ResNet convs):
/// N(0, 2 / (O·3·3)) for a `[O, I, 3, 3]` kernel.
fn kaiming_normal_fan_out<const I: usize, const O: usize, E: Dtype, D: Device<E>>(
) -> TensorOptions<Rank4<O, I, 3, 3>, E, D> {
    TensorOptions::reset_with(|t| {
        let std = (2.0 / (9 * O) as f64).sqrt();
        let mut rng = SplitMix64::new(t.device().random_u64());
        let values: Vec<E> = (0..t.shape().num_elements())
            .map(|_| E::from_f64(std * rng.normal()).unwrap_or_default())
            .collect();
        t.copy_from(&values);
        Ok(())
    })
}

/// A 3×3 "same" convolution with bias, `I` → `O` channels, on channels-last maps
/// ([`conv3x3`]). Tensors `weight` `[O, I, 3, 3]` (Kaiming-normal fan-out init) and `bias`
/// `[O]` (zeros).
#[derive(Debug, Clone)]
pub struct Conv3x3<const I: usize, const O: usize, E: Dtype, Dev: Storage<E>> {
    pub weight: Tensor<Rank4<O, I, 3, 3>, E, Dev>,
    pub bias: Tensor<Rank1<O>, E, Dev>,
}

impl<const I: usize, const O: usize, E: Dtype, Dev: Device<E>> TensorCollection<E, Dev>
    for Conv3x3<I, O, E, Dev>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv3x3<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, Dev>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                field!("weight", weight, kaiming_normal_fan_out()),
                field!("bias", bias, super::init::zeros()),
            ),
            |(weight, bias)| Conv3x3 { weight, bias },
        )
    }
}

/// `(B, H, W, I)` → `(B, H, W, O)`.
impl<const I: usize, const O: usize, E: Dtype, Dev: Device<E>, Tp: Tape<E, Dev>>
    Module<FeatureMap<I, E, Dev, Tp>> for Conv3x3<I, O, E, Dev>
{
    type Output = FeatureMap<O, E, Dev, Tp>;
    type Error = Dev::Err;

    fn try_forward(&self, x: FeatureMap<I, E, Dev, Tp>) -> Result<Self::Output, Dev::Err> {
        conv3x3(x, &self.weight, &self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_points_padding_at_the_zero_row() {
        // One 2×2 image: pixel (0, 0) sees taps (ky, kx) ∈ {1, 2}² inside.
        let idx = im2col_index(1, 2, 2);
        assert_eq!(idx.len(), 36);
        assert_eq!(&idx[..9], &[4, 4, 4, 4, 0, 1, 4, 2, 3]);
        assert_eq!(&idx[27..], &[0, 1, 4, 2, 3, 4, 4, 4, 4]);
    }
}
