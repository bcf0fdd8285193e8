//! [`InteropError`]: why timm or PyTorch weights cannot be read, converted or loaded.

use deitc_diag::{first_few, plural, Code, Describe, Description};

/// How to turn a timm `.pth` into a safetensors file deitc reads.
const PTH_TO_SAFETENSORS: &str = "python -c \"import sys, torch, safetensors.torch as st; sd = torch.load(sys.argv[1], map_location='cpu'); sd = sd.get('model', sd); st.save_file({k: v.float().contiguous() for k, v in sd.items()}, sys.argv[2])\" IN.pth OUT.safetensors";

/// A failure of `import`, `export` or `finetune.from`, about one weight file.
#[derive(Debug, Clone, PartialEq)]
pub enum InteropError {
    /// A weight file that cannot be read (missing, a directory, not safetensors).
    WeightsUnreadable { path: String, message: String },
    /// A PyTorch `.pth` file this reader cannot take (legacy format, unusual pickle).
    Pth { path: String, reason: String },
    /// A tensor that is not floating point.
    WeightsDtype {
        path: String,
        key: String,
        found: String,
    },
    /// Tensors the model needs that the file lacks (`keys` as `name [shape]`).
    WeightsMissing {
        path: String,
        keys: Vec<String>,
        /// The model has a distillation token and the file none.
        plain_into_distilled: bool,
    },
    /// Same key, another shape (both in timm's layout).
    WeightsShape {
        path: String,
        key: String,
        found: Vec<usize>,
        expected: Vec<usize>,
        /// The model's patch side and prefix tokens, to explain a `pos_embed` grid.
        patch: usize,
        prefix: usize,
        /// Whether `key` is a classifier head (`head.*`, `head_dist.*`).
        head: bool,
        /// Reported while preparing `finetune.from` (rather than by import/export).
        finetune: bool,
    },
    /// Tensors of the file the model does not have.
    WeightsUnexpected { path: String, keys: Vec<String> },
    /// A checkpoint with `dist_token` for a model without one.
    DistilledIntoPlain { path: String },
    /// `finetune.reset_head = never` and the class count differs.
    HeadClasses {
        path: String,
        key: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// `finetune.from_image` disagrees with the checkpoint's position-embedding grid.
    FromImage {
        path: String,
        from_image: usize,
        grid: usize,
        patch: usize,
    },
    /// `import`/`export` of a convnet recipe.
    ConvnetInterop,
    /// `export` of a file that is not a deitc checkpoint, or `--ema` without EMA weights.
    NotACheckpoint { path: String, what: String },
    /// A tensor of the file holds NaN or infinite values.
    NonFinite {
        path: String,
        tensor: crate::io_limits::NonFinite,
    },
    /// The converted file could not be written.
    WriteWeights { path: String, message: String },
    /// deitc itself is inconsistent (a bug to report).
    Internal { message: String },
}

const WHICH_NAMES: &str =
    "is this a checkpoint of this architecture? docs/interop.md lists the names deitc expects";

impl Describe for InteropError {
    fn describe(&self) -> Description {
        use InteropError::*;
        match self {
            WeightsUnreadable { path, message } => Description::new(
                Code::InteropUnreadable,
                format!("cannot read the weights in `{path}`: {message}"),
            )
            .help("deitc reads safetensors files (timm's `safetensors.torch.save_file(model.state_dict(), …)`, deitc checkpoints) and PyTorch `.pth` zip files"),
            Pth { path, reason } => Description::new(
                Code::InteropPth,
                format!("cannot read `{path}` directly: {reason}"),
            )
            .help(format!("convert it once with PyTorch: {PTH_TO_SAFETENSORS}")),
            WeightsDtype { path, key, found } => Description::new(
                Code::InteropDtype,
                format!("`{key}` in `{path}` has dtype {found}; model weights must be floating point"),
            )
            .help("save the state dict as float32 (`{k: v.float() for k, v in sd.items()}`)"),
            WeightsMissing { path, keys, plain_into_distilled } => Description::new(
                Code::InteropMissingKey,
                format!(
                    "`{path}` lacks {} the model needs: {}",
                    plural(keys.len(), "tensor"),
                    first_few(keys)
                ),
            )
            .help(if *plain_into_distilled {
                "the checkpoint has no distillation token: set `model.distilled = false`, or start from a distilled checkpoint"
            } else {
                WHICH_NAMES
            }),
            WeightsShape { path, key, found, expected, patch, prefix, head, finetune } => {
                Description::new(
                    Code::InteropShape,
                    format!("`{key}` is {found:?} in `{path}`, but the model needs {expected:?}"),
                )
                .help(shape_help(&ShapeFacts {
                    key,
                    found,
                    expected,
                    patch: *patch,
                    prefix: *prefix,
                    finetune: *finetune,
                    head: *head,
                }))
            }
            WeightsUnexpected { path, keys } => Description::new(
                Code::InteropUnexpectedKey,
                format!(
                    "`{path}` has {} the model lacks: {}",
                    plural(keys.len(), "tensor"),
                    first_few(keys)
                ),
            )
            .help(WHICH_NAMES),
            DistilledIntoPlain { path } => Description::new(
                Code::InteropDistilledIntoPlain,
                format!("`{path}` is a distilled checkpoint (`dist_token`, `head_dist`), but the model has no distillation token"),
            )
            .help("set `model.distilled = true` (e.g. a `deit_*_distilled_*` recipe), or start from a plain checkpoint"),
            HeadClasses { key, found, expected, .. } => Description::new(
                Code::InteropHeadClasses,
                format!("`{key}` is {found:?} in the checkpoint but the model needs {expected:?}, and `finetune.reset_head = never`"),
            )
            .help("set `finetune.reset_head = auto` to start the heads afresh for the new classes"),
            FromImage { path, from_image, grid, patch } => Description::new(
                Code::InteropFromImage,
                format!(
                    "`finetune.from_image = {from_image}`, but the position embedding in `{path}` has a {grid}×{grid} grid ({} px at patch {patch})",
                    grid * patch
                ),
            )
            .help(format!(
                "set `finetune.from_image = {}`, or remove it: the grid is read from the checkpoint",
                grid * patch
            )),
            ConvnetInterop => Description::new(
                Code::InteropConvnet,
                "timm has no counterpart of deitc's `convnet`",
            )
            .help("`deitc import` and `export` convert DeiT and ViT models (`model.family = deit` or `vit`)"),
            NotACheckpoint { path, what } => Description::new(
                Code::InteropNotACheckpoint,
                format!("`{path}` holds no {what} of a deitc checkpoint"),
            )
            .help("`deitc export` takes a checkpoint written by `deitc run` or `deitc import` (`--ema` needs a run with `train.ema`)"),
            NonFinite { path, tensor } => Description::new(
                Code::InteropNonFinite,
                format!("`{}` in `{path}` holds {}", tensor.key, tensor.counts()),
            )
            .help("weights must be finite (a run that diverged saves NaN): take an earlier checkpoint, e.g. the run's `best.safetensors`, or train again with a lower `optimizer.lr`"),
            WriteWeights { path, message } => Description::new(
                Code::InteropWrite,
                format!("cannot write `{path}`: {message}"),
            )
            .help("check that the output folder can be created and written"),
            Internal { message } => Description::internal(message),
        }
    }
}

/// What the help of a shape mismatch is about.
struct ShapeFacts<'a> {
    key: &'a str,
    found: &'a [usize],
    expected: &'a [usize],
    patch: usize,
    prefix: usize,
    finetune: bool,
    head: bool,
}

/// The help of a shape mismatch: the heads (class count), the position embedding (grid),
/// or the model's shape.
fn shape_help(f: &ShapeFacts<'_>) -> String {
    let (found, expected, patch, prefix) = (f.found, f.expected, f.patch, f.prefix);
    let same_width = found.last() == expected.last();
    if f.head && (same_width || found.len() == 1) && !f.finetune {
        return format!(
            "the checkpoint predicts {} classes and the model {}: to train on these classes, start from it with `finetune {{ from = \"…\" }}`, which re-initialises the heads",
            found.first().copied().unwrap_or(0),
            expected.first().copied().unwrap_or(0)
        );
    }
    if f.key == "pos_embed" && found.len() == 3 && expected.len() == 3 && same_width {
        let want = deitc_ir::grid_side(expected[1], prefix).unwrap_or(0);
        return match deitc_ir::grid_side(found[1], prefix) {
            Some(g) if f.finetune => format!(
                "the checkpoint's patch grid is {g}×{g} ({} px at patch {patch}) and the model's {want}×{want}: set `finetune.pos_embed = bicubic` to interpolate it",
                g * patch
            ),
            Some(g) => format!(
                "the checkpoint's patch grid is {g}×{g} ({} px at patch {patch}) and the model's {want}×{want}: start from it with `finetune {{ from = \"…\" }}`, which interpolates the position embedding",
                g * patch
            ),
            None => format!(
                "a position embedding holds {} and a square patch grid; this one does not",
                plural(prefix, "prefix token")
            ),
        };
    }
    "the model must have the checkpoint's shape: compare `model.embed`, `depth`, `heads`, `mlp_ratio`, `patch` and `channels` with it".into()
}
