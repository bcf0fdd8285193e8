//! The `regnety_160` teacher: timm's RegNetY-16GF ([`crate::model::regnet`]) read from a timm
//! `state_dict` (safetensors, or a PyTorch `.pth` such as the official
//! `regnety_160-a5fe301d.pth`), run in eval mode without a tape at the student's resolution,
//! on the student's device.

use super::teacher::Teacher;
use crate::device::Backend;
use crate::interop::weights::{self, Pick};
use crate::model::regnet::{Arch, RegNet, REGNETY_160};
use deitc_diag::Describe;
use std::path::Path;

/// Images per forward pass: a batch is split so that the im2col buffers stay small
/// (at 224 px, a 16-image chunk's largest is ≈ 0.4 GB). Eval-mode BatchNorm makes the split
/// exact.
pub const CHUNK: usize = 16;

/// A RegNet teacher on device `Dev`.
pub struct RegNetTeacher<Dev: Backend> {
    pub net: RegNet<Dev>,
    /// The student's image side (the teacher runs on the student's batch).
    pub side: usize,
}

impl<Dev: Backend> Teacher for RegNetTeacher<Dev> {
    fn classes(&self) -> usize {
        self.net.classes()
    }

    fn input(&self) -> (usize, usize) {
        (self.net.arch.in_chans, self.side)
    }

    fn num_params(&self) -> usize {
        self.net.arch.num_params()
    }

    fn eval_logits(&self, images: &[f32], n: usize) -> Result<Vec<f32>, String> {
        let (c, s) = self.input();
        let per_image = c * s * s;
        if images.len() != n * per_image {
            return Err(format!(
                "got {} values for {n} images of {c}×{s}×{s}",
                images.len()
            ));
        }
        let mut out = Vec::with_capacity(n * self.classes());
        for chunk in images.chunks(CHUNK * per_image) {
            let b = chunk.len() / per_image;
            let logits = self
                .net
                .forward_host(chunk, [b, c, s, s])
                .map_err(|e| format!("the forward pass failed on the device: {e:?}"))?;
            out.extend(logits.as_vec());
        }
        Ok(out)
    }
}

/// `regnety_160` with `classes` classes, from the checkpoint at `path`, on a device of type
/// `Dev` opened with `seed`, for `side`-pixel images. The error names the file's problem
/// (a missing key, a wrong shape, an unreadable file).
pub fn load<Dev: Backend>(
    path: &str,
    classes: usize,
    side: usize,
    seed: u64,
) -> Result<RegNetTeacher<Dev>, String> {
    load_arch(REGNETY_160.arch(3, classes), path, side, seed)
}

/// A RegNet of architecture `arch` from the checkpoint at `path` (see [`load`]).
pub fn load_arch<Dev: Backend>(
    arch: Arch,
    path: &str,
    side: usize,
    seed: u64,
) -> Result<RegNetTeacher<Dev>, String> {
    let mut tensors = weights::read(Path::new(path), Pick::Model)
        .map_err(|k| k.describe().message)?
        .tensors;
    // A DataParallel export: every key under `module.`.
    if tensors.keys().all(|k| k.starts_with("module.")) {
        tensors = tensors
            .into_iter()
            .map(|(k, v)| (k["module.".len()..].to_string(), v))
            .collect();
    }
    let dev = Dev::open(seed)?;
    let net = RegNet::load(arch, &tensors, &dev).map_err(|e| e.to_string())?;
    Ok(RegNetTeacher { net, side })
}
