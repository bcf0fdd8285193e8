//! The graph registry: the static shapes this process can build, and the lookup from a
//! recipe's `model { … }` to one of them. Each entry is one monomorphised `Deit` or `ConvNet`
//! type, instantiated for the CPU and, with the `cuda` feature, for CUDA.
//!
//! [`Registry::compiled`] is the catalogue compiled into deitc (behind the default
//! `catalogue` feature), written as the same [`register_deit!`](crate::register_deit) and
//! [`register_convnet!`](crate::register_convnet) lines a generated graph's `main` is made
//! of: a shape not in the catalogue gets a small generated crate (`deitc::generated`) whose
//! `main` adds the shape to a registry and runs the ordinary command line with it. The
//! registry is a value passed down, never a global.

use super::graph::{Graph, NetGraph};
use super::net::Net;
use super::RunError;
use crate::device::DeviceError;
use crate::ir::{Device, Model, Named, Recipe, Shape};
use dfdx::prelude::Cpu;

/// Builds a graph of net type `N` (its CPU instance) on `device`; `cuda` builds the CUDA
/// instance (or, in a build without the `cuda` feature, says why not).
#[doc(hidden)]
pub fn on_device<N: Net<K, Cpu>, const K: usize>(
    r: &Recipe,
    seed: u64,
    device: Device,
    cuda: impl FnOnce(&Recipe, u64) -> Result<Box<dyn Graph>, String>,
) -> Result<Box<dyn Graph>, RunError> {
    let unavailable = |device: &str| {
        let device = device.to_string();
        move |message| RunError::Device(DeviceError::Unavailable { device, message })
    };
    match device {
        Device::Cpu => boxed::<N, Cpu, K>(r, seed).map_err(unavailable("cpu")),
        Device::Cuda if !crate::device::available(Device::Cuda) => {
            Err(RunError::Device(DeviceError::NoCuda))
        }
        Device::Cuda => cuda(r, seed).map_err(unavailable("cuda")),
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
pub type Ctor = fn(&Recipe, u64, Device) -> Result<Box<dyn Graph>, RunError>;

/// The shapes this process has a graph for, each with its constructor: the compiled-in
/// catalogue ([`Registry::compiled`]) and whatever a generated graph's `main` adds with
/// [`register_deit!`](crate::register_deit) or [`register_convnet!`](crate::register_convnet).
/// The command line takes one and passes it down to everything that builds a graph.
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<(Named, Ctor)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| n.name).collect();
        f.debug_tuple("Registry").field(&names).finish()
    }
}

impl Registry {
    /// No shapes at all.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// Makes `ctor` the graph of `shape`, named `name` (a shape already present keeps its
    /// first constructor).
    pub fn add(&mut self, name: &'static str, shape: Shape, ctor: Ctor) {
        if !self.entries.iter().any(|(n, _)| n.shape == shape) {
            self.entries.push((Named { name, shape }, ctor));
        }
    }

    /// Every shape with a graph, in the order added.
    pub fn graphs(&self) -> Vec<Named> {
        self.entries.iter().map(|(n, _)| *n).collect()
    }

    /// Whether `m`'s shape has a graph.
    pub fn has(&self, m: &Model) -> bool {
        self.ctor(m).is_some()
    }

    fn ctor(&self, m: &Model) -> Option<Ctor> {
        let shape = Shape::of(m);
        self.entries
            .iter()
            .find(|(n, _)| n.shape == shape)
            .map(|(_, c)| *c)
    }

    /// The graph for `r.model` on `device`, freshly initialised from `seed`: an error when
    /// the shape has no graph or the device cannot be opened.
    pub fn build(&self, r: &Recipe, seed: u64, device: Device) -> Result<Box<dyn Graph>, RunError> {
        match self.ctor(&r.model) {
            Some(ctor) => ctor(r, seed, device),
            None => Err(self.not_compiled(&r.model)),
        }
    }

    /// The error for a model shape with no graph: the shape and the three shapes with a
    /// graph nearest to it.
    pub fn not_compiled(&self, m: &Model) -> RunError {
        let shape = Shape::of(m);
        let nearest = shape
            .nearest(&self.graphs(), 3)
            .iter()
            .map(|n| n.to_string())
            .collect();
        RunError::ShapeNotCompiled {
            shape: shape.to_string(),
            nearest,
        }
    }
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
        ) -> Result<Box<dyn $crate::train::graph::Graph>, $crate::train::RunError> {
            $crate::train::catalogue::on_device::<$m<$crate::dfdx::prelude::Cpu>, $k>(
                r,
                seed,
                device,
                $crate::cuda_ctor!($m, $k),
            )
        }
    };
}

/// Adds the DeiT graph of one shape to a [`Registry`]: the line a generated graph's `main`
/// is made of, and each entry of the compiled-in catalogue. `plain` or `distilled` last;
/// without a `"name":` the entry is named `generated`.
#[macro_export]
macro_rules! register_deit {
    ($reg:ident, patch $($rest:tt)*) => {
        $crate::register_deit!($reg, "generated": patch $($rest)*)
    };
    ($reg:ident, $name:literal: patch $p:literal, image $img:literal, channels $c:literal, embed $d:literal, depth $l:literal, heads $h:literal, mlp $f:literal, classes $k:literal, $dist:ident) => {{
        type M<Dev> = $crate::model::Deit<$p, { $c * $p * $p }, $d, { 3 * $d }, $h, $f, { ($img / $p) * ($img / $p) + 1 + $crate::register_deit!(@tokens $dist) }, $k, $l, $crate::register_deit!(@slot $dist, $d, $k), f32, Dev>;
        $crate::net_ctor!(M, $k);
        $reg.add(
            $name,
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

/// Adds the convnet graph of one shape to a [`Registry`] (see [`register_deit!`]).
#[macro_export]
macro_rules! register_convnet {
    ($reg:ident, image $($rest:tt)*) => {
        $crate::register_convnet!($reg, "generated": image $($rest)*)
    };
    ($reg:ident, $name:literal: image $img:literal, channels $c:literal, width $w:literal, classes $k:literal) => {{
        type M<Dev> = $crate::model::ConvNet<$c, $img, $w, { 2 * $w }, $k, f32, Dev>;
        $crate::net_ctor!(M, $k);
        $reg.add(
            $name,
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

impl Registry {
    /// The compiled-in catalogue: the eight paper models, the small shapes the bundled
    /// recipes and tests use, and the convnet shapes (none without the `catalogue` feature).
    pub fn compiled() -> Self {
        #[allow(unused_mut)]
        let mut r = Registry::empty();
        #[cfg(feature = "catalogue")]
        {
            crate::register_deit!(r, "deit_tiny_patch16_224": patch 16, image 224, channels 3, embed 192, depth 12, heads 3, mlp 768, classes 1000, plain);
            crate::register_deit!(r, "deit_small_patch16_224": patch 16, image 224, channels 3, embed 384, depth 12, heads 6, mlp 1536, classes 1000, plain);
            crate::register_deit!(r, "deit_base_patch16_224": patch 16, image 224, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, plain);
            crate::register_deit!(r, "deit_tiny_distilled_patch16_224": patch 16, image 224, channels 3, embed 192, depth 12, heads 3, mlp 768, classes 1000, distilled);
            crate::register_deit!(r, "deit_small_distilled_patch16_224": patch 16, image 224, channels 3, embed 384, depth 12, heads 6, mlp 1536, classes 1000, distilled);
            crate::register_deit!(r, "deit_base_distilled_patch16_224": patch 16, image 224, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, distilled);
            crate::register_deit!(r, "deit_base_patch16_384": patch 16, image 384, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, plain);
            crate::register_deit!(r, "deit_base_distilled_patch16_384": patch 16, image 384, channels 3, embed 768, depth 12, heads 12, mlp 3072, classes 1000, distilled);
            crate::register_deit!(r, "deit_tiny_patch4_32": patch 4, image 32, channels 3, embed 192, depth 12, heads 3, mlp 768, classes 10, plain);
            crate::register_deit!(r, "digits_micro": patch 2, image 8, channels 1, embed 64, depth 4, heads 2, mlp 256, classes 10, plain);
            crate::register_deit!(r, "digits_micro_distilled": patch 2, image 8, channels 1, embed 64, depth 4, heads 2, mlp 256, classes 10, distilled);
            crate::register_deit!(r, "test_tiny": patch 4, image 16, channels 3, embed 64, depth 2, heads 2, mlp 256, classes 10, plain);
            crate::register_deit!(r, "test_tiny_distilled": patch 4, image 16, channels 3, embed 64, depth 2, heads 2, mlp 256, classes 10, distilled);
            crate::register_convnet!(r, "digits_convnet": image 8, channels 1, width 32, classes 10);
            crate::register_convnet!(r, "test_convnet": image 16, channels 3, width 8, classes 10);
            crate::register_convnet!(r, "fashion_mnist_convnet": image 16, channels 3, width 16, classes 10);
        }
        r
    }
}
