//! Weight files on the host: reading a timm `state_dict` (safetensors, or a PyTorch `.pth`
//! zip), a deitc checkpoint (its `model.` or `ema.` tensors), and matching them against the
//! tensors a recipe's model needs, with one diagnostic per problem.

use super::names::{self, Spec, DIST_TOKEN, POS_EMBED};
use super::pth;
use super::InteropError;
use crate::io_limits;
use crate::ir::Model;
use crate::model::{LoadError, TensorFile};
use crate::train::tensor_io::Named;
use std::collections::BTreeMap;
use std::path::Path;

/// What kind of file the weights came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A safetensors file with timm's key names (`safetensors.torch.save_file(state_dict)`).
    Timm,
    /// A deitc checkpoint (`model.*`, `ema.*`, `opt.*`), written by `deitc run` or `import`.
    Deitc,
    /// A PyTorch `torch.save` zip (`.pth`), its `state_dict` under `model` (or at the top).
    Pth,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::Timm => "timm safetensors",
            Format::Deitc => "deitc checkpoint",
            Format::Pth => "PyTorch .pth",
        }
    }
}

/// Which weights of a deitc checkpoint to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Model,
    Ema,
}

/// Named f32 tensors (timm names, no prefix) read from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// The path as given, for diagnostics.
    pub path: String,
    pub format: Format,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Weights {
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.tensors.get(key).map(|(s, _)| s.as_slice())
    }

    /// Whether the file holds a distillation token.
    pub fn distilled(&self) -> bool {
        self.tensors.contains_key(DIST_TOKEN)
    }
}

/// Reads `path`: a deitc checkpoint's `model.` (or `ema.`) tensors, or every tensor of a
/// timm safetensors / `.pth` file. The file must be a regular file of at most
/// [`MAX_WEIGHTS_BYTES`](io_limits::MAX_WEIGHTS_BYTES), and every value read finite.
pub fn read(path: &Path, pick: Pick) -> Result<Weights, InteropError> {
    let shown = path.display().to_string();
    // A regular file of at most 8 GiB: a FIFO or a device is never opened.
    let bytes = io_limits::read(path, io_limits::MAX_WEIGHTS_BYTES).map_err(|e| {
        InteropError::WeightsUnreadable {
            path: shown.clone(),
            message: e.to_string(),
        }
    })?;
    from_bytes(shown, bytes, pick)
}

/// What [`read`] makes of a file's `bytes` (`shown` is its path, for diagnostics): whatever
/// the bytes, the weights or a diagnostic, never a panic (`tests/fuzz_readers.rs`).
pub fn from_bytes(shown: String, bytes: Vec<u8>, pick: Pick) -> Result<Weights, InteropError> {
    let unreadable = |message: String| InteropError::WeightsUnreadable {
        path: shown.clone(),
        message,
    };
    if bytes.starts_with(b"PK\x03\x04") {
        let read = pth::read(&bytes).map_err(|reason| InteropError::Pth {
            path: shown.clone(),
            reason,
        })?;
        let mut tensors = BTreeMap::new();
        for (key, (shape, values)) in read.into_iter().filter(|(k, _)| !is_bn_counter(k)) {
            let data = values.map_err(|found| InteropError::WeightsDtype {
                path: shown.clone(),
                key: key.clone(),
                found,
            })?;
            tensors.insert(key, (shape, data));
        }
        return finish(shown, Format::Pth, tensors, pick);
    }
    // A pickle (`\x80` and a protocol number): a `.pth` of the legacy format starts with
    // its magic number `0x1950a86a20f9469cfc6c`, pickled.
    let pickle = bytes.first() == Some(&0x80) && bytes.get(1).is_some_and(|p| (2..=5).contains(p));
    let legacy = pickle && bytes.get(2..4) == Some(&[0x8a, 0x0a][..]);
    if legacy {
        return Err(InteropError::Pth {
            path: shown,
            reason: "it is a PyTorch file in the legacy (pre-1.6, non-zip) format".into(),
        });
    }
    if let Err(reason) = sane_header(&bytes) {
        return Err(unreadable(format!("not a safetensors file: {reason}")));
    }
    let file = TensorFile::parse(bytes).map_err(|e| match e {
        LoadError::Format { .. } if pickle => InteropError::Pth {
            path: shown.clone(),
            reason: "it is a Python pickle, not a torch.save zip archive".into(),
        },
        LoadError::Format { reason } => unreadable(format!("not a safetensors file: {reason}")),
        other => unreadable(other.to_string()),
    })?;
    let deitc = file.is_checkpoint();
    let prefix = file.weights_prefix(pick == Pick::Ema);
    let mut tensors = BTreeMap::new();
    let keys: Vec<String> = file
        .keys()
        .filter(|k| k.starts_with(prefix) && !is_bn_counter(k))
        .map(str::to_string)
        .collect();
    for key in keys {
        let (shape, data) = file.f32s(&key).map_err(|_| InteropError::WeightsDtype {
            path: shown.clone(),
            key: key.clone(),
            found: file.info(&key).map(|i| i.dtype.clone()).unwrap_or_default(),
        })?;
        tensors.insert(key[prefix.len()..].to_string(), (shape, data));
    }
    let format = if deitc { Format::Deitc } else { Format::Timm };
    finish(shown, format, tensors, pick)
}

/// BatchNorm's integer step counter (`*.num_batches_tracked`, in every `state_dict` of a
/// network with BatchNorm, e.g. a RegNetY teacher): no model reads it, so it is skipped.
fn is_bn_counter(key: &str) -> bool {
    key.ends_with(".num_batches_tracked")
}

fn finish(
    path: String,
    format: Format,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pick: Pick,
) -> Result<Weights, InteropError> {
    for (key, (_, values)) in &tensors {
        io_limits::check_finite(key, values).map_err(|tensor| InteropError::NonFinite {
            path: path.clone(),
            tensor,
        })?;
    }
    if pick == Pick::Ema && (format != Format::Deitc || tensors.is_empty()) {
        return Err(InteropError::NotACheckpoint {
            path,
            what: "EMA weights (`ema.*`)".into(),
        });
    }
    if tensors.is_empty() {
        return Err(InteropError::WeightsUnreadable {
            path,
            message: "it holds no tensors".into(),
        });
    }
    Ok(Weights {
        path,
        format,
        tensors,
    })
}

/// In which layout [`conform`] returns the tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// deitc's (`patch_embed.proj.weight` as `[D, C·P·P]`).
    Ours,
    /// timm's (`patch_embed.proj.weight` as `[D, C, P, P]`).
    Timm,
}

/// At most this many shape diagnostics are reported for one file.
const MAX_SHAPE_DIAGS: usize = 8;

/// The tensors `specs` asks for, taken from `w`, in `specs` order and in `layout`: or every
/// problem found (a distilled file for a plain model, missing tensors, wrong shapes,
/// tensors the model lacks). `finetune` only changes the help of the diagnostics.
pub fn conform(
    w: &Weights,
    specs: &[Spec],
    m: &Model,
    layout: Layout,
    finetune: bool,
) -> Result<Vec<Named>, Vec<InteropError>> {
    if w.distilled() && !m.distilled {
        return Err(vec![InteropError::DistilledIntoPlain {
            path: w.path.clone(),
        }]);
    }
    let plain_into_distilled = !w.distilled() && m.distilled;
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    let mut shapes = 0usize;
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some((shape, data)) = w.tensors.get(&spec.name) else {
            missing.push(format!("{} {:?}", spec.name, spec.timm));
            continue;
        };
        if !spec.accepts(shape) {
            // A plain file's pos_embed lacks the dist row: the missing dist_token says it.
            let dist_row = plain_into_distilled
                && spec.name == POS_EMBED
                && shape.len() == 3
                && shape[1] + 1 == spec.timm[1];
            if !dist_row && shapes < MAX_SHAPE_DIAGS {
                problems.push(InteropError::WeightsShape {
                    path: w.path.clone(),
                    key: spec.name.clone(),
                    found: shape.clone(),
                    expected: spec.timm.clone(),
                    patch: m.patch,
                    prefix: m.prefix_tokens(),
                    finetune,
                    head: super::names::is_head(&spec.name),
                });
            }
            shapes += usize::from(!dist_row);
            continue;
        }
        out.push(Named {
            name: spec.name.clone(),
            shape: match layout {
                Layout::Ours => spec.ours.clone(),
                Layout::Timm => spec.timm.clone(),
            },
            data: data.clone(),
        });
    }
    if !missing.is_empty() {
        problems.insert(
            0,
            InteropError::WeightsMissing {
                path: w.path.clone(),
                keys: missing,
                plain_into_distilled,
            },
        );
    }
    let unexpected: Vec<String> = w
        .tensors
        .keys()
        .filter(|k| !specs.iter().any(|s| &s.name == *k))
        .cloned()
        .collect();
    if !unexpected.is_empty() {
        problems.push(InteropError::WeightsUnexpected {
            path: w.path.clone(),
            keys: unexpected,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The timm layout of a recipe's model, or the diagnostic for a convnet.
pub fn specs(m: &Model) -> Result<Vec<Spec>, InteropError> {
    names::layout(m).ok_or(InteropError::ConvnetInterop)
}

/// Refuses a safetensors header whose sizes overflow before it is parsed in full: shapes
/// whose element count, or data offsets whose sum with the header, does not fit in memory.
/// (Headers that do not parse are left to the parser, which says why.)
fn sane_header(bytes: &[u8]) -> Result<(), String> {
    let Some(len) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return Ok(());
    };
    let Some(end) = usize::try_from(u64::from_le_bytes(len))
        .ok()
        .and_then(|n| n.checked_add(8))
        .filter(|&e| e <= bytes.len())
    else {
        return Ok(());
    };
    let Ok(header) = serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(&bytes[8..end])
    else {
        return Ok(());
    };
    for (key, v) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let dims: Vec<u64> = match v.get("shape").and_then(|s| s.as_array()) {
            Some(dims) => dims.iter().filter_map(serde_json::Value::as_u64).collect(),
            None => continue,
        };
        let numel = dims.iter().try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        });
        let offsets = v
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .cloned()
            .unwrap_or_default();
        let fits = offsets.iter().all(|o| {
            o.as_u64()
                .and_then(|o| usize::try_from(o).ok())
                .and_then(|o| o.checked_add(end))
                .is_some()
        });
        if numel.and_then(|n| n.checked_mul(8)).is_none() || !fits {
            return Err(format!("`{key}`: its shape or data offsets overflow"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::tensor_io::to_bytes;

    fn file(values: Vec<f32>, prefix: &str) -> Vec<u8> {
        let t = |name: &str, data: Vec<f32>| Named {
            name: format!("{prefix}{name}"),
            shape: vec![data.len()],
            data,
        };
        to_bytes(
            &[t("head.bias", vec![0.5, 1.0]), t("cls_token", values)],
            Default::default(),
        )
        .expect("bytes")
    }

    #[test]
    fn non_finite_weights_are_refused_naming_the_tensor_and_counting() {
        let ok = from_bytes("w".into(), file(vec![1.0, -2.0, 3.0], ""), Pick::Model);
        assert!(ok.is_ok());
        let bad = vec![f32::NAN, 1.0, f32::INFINITY, f32::NAN];
        for prefix in ["", "model."] {
            let e =
                from_bytes("w.st".into(), file(bad.clone(), prefix), Pick::Model).expect_err("NaN");
            let InteropError::NonFinite { path, tensor } = &e else {
                panic!("{e:?}");
            };
            assert_eq!((path.as_str(), tensor.key.as_str()), ("w.st", "cls_token"));
            assert_eq!((tensor.nan, tensor.inf, tensor.total), (2, 1, 4));
            let d = deitc_diag::Describe::describe(&e);
            assert_eq!(d.code, deitc_diag::Code::InteropNonFinite);
            assert_eq!(
                d.message,
                "`cls_token` in `w.st` holds 2 NaN and 1 infinite of 4 values"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_without_being_read() {
        let e = read(Path::new("/dev/zero"), Pick::Model).expect_err("a device");
        assert!(
            matches!(&e, InteropError::WeightsUnreadable { message, .. } if message.contains("character device")),
            "{e:?}"
        );
    }
}
