//! The compiled-in catalogue: the static shapes deitc can build, and the lookup from a
//! recipe's `model { … }` to one of them. Each entry is one monomorphised `Deit` or `ConvNet`
//! type, instantiated for the CPU and, with the `cuda` feature, for CUDA (the list itself is
//! behind the default `catalogue` feature).
//!
//! A shape not listed here gets a generated graph ([`generated`](super::generated)): a
//! small crate whose `main` [`register`]s the shape with [`register_deit!`](crate::register_deit)
//! or [`register_convnet!`](crate::register_convnet) and then runs the ordinary command
//! line, so [`build`] finds it like a catalogue entry.

use super::graph::{Graph, NetGraph};
use super::net::Net;
use crate::diag::ErrorKind;
use crate::ir::{ConvShape, DeitShape, Device, Model, Named, Recipe, Shape};
#[cfg(feature = "catalogue")]
use crate::model::{ConvNet, Deit, DistToken, NoDist};
use dfdx::prelude::Cpu;

/// Builds a graph of net type `N` (its CPU instance) on `device`; `cuda` builds the CUDA
/// instance (or, in a build without the `cuda` feature, says why not).
#[doc(hidden)]
pub fn on_device<N: Net<K, Cpu>, const K: usize>(
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
        Device::Cuda if !crate::device::available(Device::Cuda) => Err(ErrorKind::NoCuda),
        Device::Cuda => cuda(r, seed).map_err(unavailable),
    }
}

/// A fresh graph of net `N` on device `Dev`, type-erased.
#[doc(hidden)]
pub fn boxed<N: Net<K, Dev>, Dev: crate::device::Backend, const K: usize>(
    r: &Recipe,
    seed: u64,
) -> Result<Box<dyn Graph>, String> {
    Ok(Box::new(NetGraph::<N, Dev, K>::new(r, seed)?))
}

/// The CUDA constructor of a build without CUDA (never called: `on_device` checks first).
#[doc(hidden)]
pub fn no_cuda(_: &Recipe, _: u64) -> Result<Box<dyn Graph>, String> {
    Err("this build of deitc has no CUDA support".into())
}

/// A graph constructor: the net for a recipe, freshly initialised from a seed, on a device.
pub type Ctor = fn(&Recipe, u64, Device) -> Result<Box<dyn Graph>, ErrorKind>;

/// Shapes registered at run time by a generated graph's `main`.
static REGISTERED: std::sync::Mutex<Vec<(Shape, Ctor)>> = std::sync::Mutex::new(Vec::new());

/// Makes `ctor` the graph of `shape` in this process (what a generated graph's `main`
/// does before running the command line).
pub fn register(shape: Shape, ctor: Ctor) {
    if let Ok(mut v) = REGISTERED.lock() {
        v.push((shape, ctor));
    }
}

fn registered(m: &Model) -> Option<Ctor> {
    let v = REGISTERED.lock().ok()?;
    let shape = Shape::of(m);
    v.iter().find(|(s, _)| *s == shape).map(|(_, c)| *c)
}

/// The CUDA constructor of net type `$m<Cuda>` with `$k` classes, or `no_cuda` in a build
/// without the `cuda` feature (of the crate that expands it).
#[doc(hidden)]
#[macro_export]
macro_rules! cuda_ctor {
    ($m:ident, $k:literal) => {{
        #[cfg(feature = "cuda")]
        {
            $crate::train::catalogue::boxed::<
                $m<$crate::dfdx::prelude::Cuda>,
                $crate::dfdx::prelude::Cuda,
                $k,
            >
        }
        #[cfg(not(feature = "cuda"))]
        {
            $crate::train::catalogue::no_cuda
        }
    }};
}

/// `fn ctor`, the [`Ctor`] of net type `$m<Dev>` with `$k` classes (for the macros below).
#[doc(hidden)]
#[macro_export]
macro_rules! net_ctor {
    ($m:ident, $k:literal) => {
        fn ctor(
            r: &$crate::ir::Recipe,
            seed: u64,
            device: $crate::ir::Device,
        ) -> Result<Box<dyn $crate::train::graph::Graph>, $crate::diag::ErrorKind> {
            $crate::train::catalogue::on_device::<$m<$crate::dfdx::prelude::Cpu>, $k>(
                r,
                seed,
                device,
                $crate::cuda_ctor!($m, $k),
            )
        }
    };
}

/// Registers the DeiT graph of one shape (see [`register`]): the line a generated graph's
/// `main` is made of. `plain` or `distilled` last.
#[macro_export]
macro_rules! register_deit {
    (patch $p:literal, image $img:literal, channels $c:literal, embed $d:literal, depth $l:literal, heads $h:literal, mlp $f:literal, classes $k:literal, $dist:ident) => {{
        type M<Dev> = $crate::model::Deit<$p, { $c * $p * $p }, $d, { 3 * $d }, $h, $f, { ($img / $p) * ($img / $p) + 1 + $crate::register_deit!(@tokens $dist) }, $k, $l, $crate::register_deit!(@slot $dist, $d, $k), f32, Dev>;
        $crate::net_ctor!(M, $k);
        $crate::train::catalogue::register(
            $crate::ir::Shape::Deit($crate::ir::DeitShape {
                patch: $p, image: $img, channels: $c, embed: $d, depth: $l,
                heads: $h, mlp: $f, classes: $k,
                distilled: $crate::register_deit!(@distilled $dist), qkv_bias: true,
            }),
            ctor,
        );
    }};
    (@distilled plain) => { false };
    (@distilled distilled) => { true };
    (@tokens plain) => { 0 };
    (@tokens distilled) => { 1 };
    (@slot plain, $d:literal, $k:literal) => { $crate::model::NoDist };
    (@slot distilled, $d:literal, $k:literal) => { $crate::model::DistToken<$d, $k, f32, Dev> };
}

/// Registers the convnet graph of one shape (see [`register`]).
#[macro_export]
macro_rules! register_convnet {
    (image $img:literal, channels $c:literal, width $w:literal, classes $k:literal) => {{
        type M<Dev> = $crate::model::ConvNet<$c, $img, $w, { 2 * $w }, $k, f32, Dev>;
        $crate::net_ctor!(M, $k);
        $crate::train::catalogue::register(
            $crate::ir::Shape::Convnet($crate::ir::ConvShape {
                image: $img,
                channels: $c,
                width: $w,
                classes: $k,
            }),
            ctor,
        );
    }};
}

macro_rules! catalogue {
    ($( $name:literal: patch $p:literal, image $img:literal, channels $c:literal, embed $d:literal, depth $l:literal, heads $h:literal, mlp $f:literal, classes $k:literal, $dist:ident; )*) => {
        /// Every compiled shape (none without the `catalogue` feature).
        #[cfg(feature = "catalogue")]
        pub const SHAPES: &[Named] = &[$(Named { name: $name, shape: Shape::Deit(DeitShape {
            patch: $p, image: $img, channels: $c, embed: $d, depth: $l, heads: $h,
            mlp: $f, classes: $k, distilled: catalogue!(@distilled $dist), qkv_bias: true,
        }) }),*];
        #[cfg(not(feature = "catalogue"))]
        pub const SHAPES: &[Named] = &[];

        /// The transformer graph for `r.model` on `device` (see [`build`]).
        #[allow(unused_variables)]
        fn build_transformer(r: &Recipe, seed: u64, device: Device) -> Result<Box<dyn Graph>, ErrorKind> {
            $(
                #[cfg(feature = "catalogue")]
                if SHAPES.iter().find(|s| s.name == $name).is_some_and(|s| s.shape == Shape::of(&r.model)) {
                    type M<Dev> = Deit<$p, { $c * $p * $p }, $d, { 3 * $d }, $h, $f, { ($img / $p) * ($img / $p) + 1 + catalogue!(@tokens $dist) }, $k, $l, catalogue!(@slot $dist, $d, $k), f32, Dev>;
                    return on_device::<M<Cpu>, $k>(r, seed, device, crate::cuda_ctor!(M, $k));
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

macro_rules! convnets {
    ($( $name:literal: image $img:literal, channels $c:literal, width $w:literal, classes $k:literal; )*) => {
        /// Every compiled convnet shape (none without the `catalogue` feature).
        #[cfg(feature = "catalogue")]
        pub const CONV_SHAPES: &[Named] = &[$(Named { name: $name, shape: Shape::Convnet(ConvShape {
            image: $img, channels: $c, width: $w, classes: $k,
        }) }),*];
        #[cfg(not(feature = "catalogue"))]
        pub const CONV_SHAPES: &[Named] = &[];

        /// The convnet graph for `r.model` on `device` (see [`build`]).
        #[allow(unused_variables)]
        fn build_convnet(r: &Recipe, seed: u64, device: Device) -> Result<Box<dyn Graph>, ErrorKind> {
            $(
                #[cfg(feature = "catalogue")]
                if CONV_SHAPES.iter().find(|s| s.name == $name).is_some_and(|s| s.shape == Shape::of(&r.model)) {
                    type M<Dev> = ConvNet<$c, $img, $w, { 2 * $w }, $k, f32, Dev>;
                    return on_device::<M<Cpu>, $k>(r, seed, device, crate::cuda_ctor!(M, $k));
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
    if let Some(ctor) = registered(&r.model) {
        return ctor(r, seed, device);
    }
    if r.model.is_transformer() {
        build_transformer(r, seed, device)
    } else {
        build_convnet(r, seed, device)
    }
}

/// Every shape with a graph in this process: compiled in, then registered.
pub fn graphs() -> Vec<Named> {
    let mut v: Vec<Named> = SHAPES.iter().chain(CONV_SHAPES).copied().collect();
    if let Ok(registered) = REGISTERED.lock() {
        v.extend(registered.iter().map(|(shape, _)| Named {
            name: "generated",
            shape: *shape,
        }));
    }
    v
}

/// Whether `m`'s shape has a graph in this process: compiled in, or registered.
pub fn compiled(m: &Model) -> bool {
    let shape = Shape::of(m);
    graphs().iter().any(|g| g.shape == shape)
}

/// The error for a model shape with no compiled graph: the shape and the three compiled
/// shapes nearest to it.
pub fn not_compiled(m: &Model) -> ErrorKind {
    let shape = Shape::of(m);
    let nearest = shape
        .nearest(&graphs(), 3)
        .iter()
        .map(|n| n.to_string())
        .collect();
    ErrorKind::ShapeNotCompiled {
        shape: shape.to_string(),
        nearest,
    }
}
