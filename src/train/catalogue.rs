//! The compiled-in catalogue: the static shapes deitc can build, and the lookup from a
//! recipe's `model { … }` to one of them. Each entry is one monomorphised `Deit` or `ConvNet`
//! type, instantiated for the CPU and, with the `cuda` feature, for CUDA; a shape not listed
//! here is reported by `check` with the nearest compiled shapes.

use super::graph::{Graph, NetGraph};
use super::net::Net;
use crate::diag::ErrorKind;
use crate::ir::{Device, Model, Recipe};
use crate::model::{ConvNet, Deit, DistToken, NoDist};
use dfdx::prelude::Cpu;

/// Builds a graph of net type `N` (its CPU instance) on `device`; `cuda` builds the CUDA
/// instance (or, in a build without the `cuda` feature, says why not).
fn on_device<N: Net<K, Cpu>, const K: usize>(
    r: &Recipe,
    seed: u64,
    device: Device,
    cuda: impl FnOnce(&Recipe, u64) -> Result<Box<dyn Graph>, String>,
) -> Result<Box<dyn Graph>, ErrorKind> {
    let unavailable = |message| ErrorKind::DeviceUnavailable {
        device: "cuda".into(),
        message,
    };
    match device {
        Device::Cpu => {
            boxed::<N, Cpu, K>(r, seed).map_err(|message| ErrorKind::DeviceUnavailable {
                device: "cpu".into(),
                message,
            })
        }
        Device::Cuda if !super::device::available(Device::Cuda) => Err(ErrorKind::NoCuda),
        Device::Cuda => cuda(r, seed).map_err(unavailable),
    }
}

/// A fresh graph of net `N` on device `Dev`, type-erased.
fn boxed<N: Net<K, Dev>, Dev: super::device::Backend, const K: usize>(
    r: &Recipe,
    seed: u64,
) -> Result<Box<dyn Graph>, String> {
    Ok(Box::new(NetGraph::<N, Dev, K>::new(r, seed)?))
}

/// The CUDA constructor of a build without CUDA (never called: `on_device` checks first).
#[cfg(not(feature = "cuda"))]
fn no_cuda(_: &Recipe, _: u64) -> Result<Box<dyn Graph>, String> {
    Err("this build of deitc has no CUDA support".into())
}

/// A compiled transformer shape, as the IR names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub name: &'static str,
    pub patch: usize,
    pub image: usize,
    pub channels: usize,
    pub embed: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
    pub classes: usize,
    pub distilled: bool,
}

impl Shape {
    /// Whether the IR model has exactly this shape (all compiled graphs have a qkv bias).
    pub fn fits(&self, m: &Model) -> bool {
        m.is_transformer()
            && m.patch == self.patch
            && m.image == self.image
            && m.channels == self.channels
            && m.embed == self.embed
            && m.depth == self.depth
            && m.heads == self.heads
            && m.mlp_hidden() == self.mlp
            && m.classes == self.classes
            && m.distilled == self.distilled
            && m.qkv_bias
    }

    /// How many of the shape fields differ from `m` (for "nearest shapes").
    pub fn distance(&self, m: &Model) -> usize {
        [
            m.patch != self.patch,
            m.image != self.image,
            m.channels != self.channels,
            m.embed != self.embed,
            m.depth != self.depth,
            m.heads != self.heads,
            m.mlp_hidden() != self.mlp,
            m.classes != self.classes,
            m.distilled != self.distilled,
            !m.qkv_bias,
        ]
        .iter()
        .filter(|d| **d)
        .count()
    }
}

/// The CUDA constructor of net type `$m<Cuda>` with `$k` classes, or [`no_cuda`] in a build
/// without the `cuda` feature.
macro_rules! cuda_ctor {
    ($m:ident, $k:literal) => {{
        #[cfg(feature = "cuda")]
        {
            boxed::<$m<dfdx::prelude::Cuda>, dfdx::prelude::Cuda, $k>
        }
        #[cfg(not(feature = "cuda"))]
        {
            no_cuda
        }
    }};
}

macro_rules! catalogue {
    ($( $name:literal: patch $p:literal, image $img:literal, channels $c:literal, embed $d:literal, depth $l:literal, heads $h:literal, mlp $f:literal, classes $k:literal, $dist:ident; )*) => {
        /// Every compiled shape.
        pub const SHAPES: &[Shape] = &[$(Shape {
            name: $name, patch: $p, image: $img, channels: $c, embed: $d, depth: $l, heads: $h,
            mlp: $f, classes: $k, distilled: catalogue!(@distilled $dist),
        }),*];

        /// The transformer graph for `r.model` on `device` (see [`build`]).
        fn build_transformer(r: &Recipe, seed: u64, device: Device) -> Result<Box<dyn Graph>, ErrorKind> {
            $(
                if SHAPES.iter().find(|s| s.name == $name).is_some_and(|s| s.fits(&r.model)) {
                    type M<Dev> = Deit<$p, { $c * $p * $p }, $d, { 3 * $d }, $h, $f, { ($img / $p) * ($img / $p) + 1 + catalogue!(@tokens $dist) }, $k, $l, catalogue!(@slot $dist, $d, $k), f32, Dev>;
                    return on_device::<M<Cpu>, $k>(r, seed, device, cuda_ctor!(M, $k));
                }
            )*
            Err(not_compiled(&r.model))
        }
    };
    (@distilled plain) => { false };
    (@distilled distilled) => { true };
    (@tokens plain) => { 0 };
    (@tokens distilled) => { 1 };
    (@slot plain, $d:literal, $k:literal) => { NoDist };
    (@slot distilled, $d:literal, $k:literal) => { DistToken<$d, $k, f32, Dev> };
}

catalogue! {
    "deit_tiny_patch16_224": patch 16, image 224, channels 3, embed 192, depth 12, heads 3, mlp 768, classes 1000, plain;
    "deit_small_patch16_224": patch 16, image 224, channels 3, embed 384, depth 12, heads 6, mlp 1536, classes 1000, plain;
    "deit_base_patch16_224": patch 16, image 224, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, plain;
    "deit_tiny_distilled_patch16_224": patch 16, image 224, channels 3, embed 192, depth 12, heads 3, mlp 768, classes 1000, distilled;
    "deit_small_distilled_patch16_224": patch 16, image 224, channels 3, embed 384, depth 12, heads 6, mlp 1536, classes 1000, distilled;
    "deit_base_distilled_patch16_224": patch 16, image 224, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, distilled;
    "deit_base_patch16_384": patch 16, image 384, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, plain;
    "deit_base_distilled_patch16_384": patch 16, image 384, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, distilled;
    "deit_tiny_patch4_32": patch 4, image 32, channels 3, embed 192, depth 12, heads 3, mlp 768, classes 10, plain;
    "digits_micro": patch 2, image 8, channels 1, embed 64, depth 4, heads 2, mlp 256, classes 10, plain;
    "digits_micro_distilled": patch 2, image 8, channels 1, embed 64, depth 4, heads 2, mlp 256, classes 10, distilled;
    "test_tiny": patch 4, image 16, channels 3, embed 64, depth 2, heads 2, mlp 256, classes 10, plain;
    "test_tiny_distilled": patch 4, image 16, channels 3, embed 64, depth 2, heads 2, mlp 256, classes 10, distilled;
}

/// A compiled convnet shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub name: &'static str,
    pub image: usize,
    pub channels: usize,
    pub width: usize,
    pub classes: usize,
}

impl ConvShape {
    pub fn fits(&self, m: &Model) -> bool {
        !m.is_transformer() && self.distance(m) == 0
    }

    pub fn distance(&self, m: &Model) -> usize {
        [
            m.is_transformer(),
            m.image != self.image,
            m.channels != self.channels,
            m.width != self.width,
            m.classes != self.classes,
        ]
        .iter()
        .filter(|d| **d)
        .count()
    }
}

macro_rules! convnets {
    ($( $name:literal: image $img:literal, channels $c:literal, width $w:literal, classes $k:literal; )*) => {
        /// Every compiled convnet shape.
        pub const CONV_SHAPES: &[ConvShape] = &[$(ConvShape {
            name: $name, image: $img, channels: $c, width: $w, classes: $k,
        }),*];

        /// The convnet graph for `r.model` on `device` (see [`build`]).
        fn build_convnet(r: &Recipe, seed: u64, device: Device) -> Result<Box<dyn Graph>, ErrorKind> {
            $(
                if CONV_SHAPES.iter().find(|s| s.name == $name).is_some_and(|s| s.fits(&r.model)) {
                    type M<Dev> = ConvNet<$c, $img, $w, { 2 * $w }, $k, f32, Dev>;
                    return on_device::<M<Cpu>, $k>(r, seed, device, cuda_ctor!(M, $k));
                }
            )*
            Err(not_compiled(&r.model))
        }
    };
}

convnets! {
    "digits_convnet": image 8, channels 1, width 32, classes 10;
    "test_convnet": image 16, channels 3, width 8, classes 10;
}

/// The graph for `r.model` on `device`, freshly initialised from `seed`: an error when the
/// shape is not compiled in or the device cannot be opened.
pub fn build(r: &Recipe, seed: u64, device: Device) -> Result<Box<dyn Graph>, ErrorKind> {
    if r.model.is_transformer() {
        build_transformer(r, seed, device)
    } else {
        build_convnet(r, seed, device)
    }
}

/// Whether `m`'s shape has a compiled graph.
pub fn compiled(m: &Model) -> bool {
    SHAPES.iter().any(|s| s.fits(m)) || CONV_SHAPES.iter().any(|s| s.fits(m))
}

/// The diagnostic for a model shape with no compiled graph: the shape and the three
/// compiled shapes nearest to it.
pub fn not_compiled(m: &Model) -> crate::diag::ErrorKind {
    if !m.is_transformer() {
        let shape = format!(
            "convnet · {} px · {} ch · width {} · {} classes",
            m.image, m.channels, m.width, m.classes
        );
        let mut v: Vec<&ConvShape> = CONV_SHAPES.iter().collect();
        v.sort_by_key(|s| s.distance(m));
        let nearest = v.iter().take(3).map(|s| s.name.to_string()).collect();
        return crate::diag::ErrorKind::ShapeNotCompiled { shape, nearest };
    }
    let shape = format!(
        "patch {} · {} px · {} ch · embed {} · depth {} · {} heads · mlp {} · {} classes{}",
        m.patch,
        m.image,
        m.channels,
        m.embed,
        m.depth,
        m.heads,
        m.mlp_hidden(),
        m.classes,
        if m.distilled { " · distilled" } else { "" }
    );
    let nearest = nearest(m, 3).iter().map(|s| s.name.to_string()).collect();
    crate::diag::ErrorKind::ShapeNotCompiled { shape, nearest }
}

/// The compiled shapes nearest to `m`, nearest first.
pub fn nearest(m: &Model, n: usize) -> Vec<&'static Shape> {
    let mut v: Vec<&Shape> = SHAPES.iter().collect();
    v.sort_by_key(|s| s.distance(m));
    v.truncate(n);
    v
}
