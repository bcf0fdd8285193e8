//! The schema: every block and field a recipe may set, with its type, default and meaning.
//!
//! This table is the single source of truth for validation, defaults, `explain` and the
//! field list in docs/language.md (a test keeps the two in step). Defaults are written in
//! the recipe language itself and parsed on demand as the source `<default>`.

/// A field's type, with its allowed range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    /// A whole number in `[min, max]` (`20k` allowed).
    Int {
        min: i64,
        max: i64,
    },
    /// A real number; `open` makes the matching bound exclusive. Fractions (`max ≤ 1`)
    /// also accept percentages: `25%`.
    Float {
        min: f64,
        max: f64,
        min_open: bool,
        max_open: bool,
    },
    Bool,
    Str,
    /// One of the listed names (`none` allowed when listed).
    Enum(&'static [&'static str]),
    /// `lo..hi` with both ends in `[min, max]`.
    Range {
        min: f64,
        max: f64,
    },
    /// A list of reals in `[min, max]`, of exactly `len` items when given.
    Floats {
        len: Option<usize>,
        min: f64,
        max: f64,
    },
    /// A list of names from the set.
    Names(&'static [&'static str]),
    /// A length of training: `300 epochs`, `20k steps`, and `5%` (of `schedule.length`) when
    /// `percent` is set, a wall-clock time (`90 s`, `30 min`, `2 h`, held in seconds) when
    /// `time` is set; at least `min` epochs, steps or seconds.
    Duration {
        percent: bool,
        time: bool,
        min: u64,
    },
    /// A data source call: `image_folder("…")`, ….
    Source,
    /// The inner type, or `none`.
    Opt(&'static Ty),
}

impl Ty {
    /// How the type reads in messages: "a whole number in 1..=1024".
    pub fn describe(&self) -> String {
        match self {
            Ty::Int { .. } => "a whole number".into(),
            Ty::Float { .. } => "a number".into(),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Str => "a string in quotes".into(),
            Ty::Enum(names) => format!("one of {}", names.join(", ")),
            Ty::Range { .. } => "a range `lo..hi`".into(),
            Ty::Floats { len: Some(n), .. } => format!("a list of {n} numbers"),
            Ty::Floats { len: None, .. } => "a list of numbers".into(),
            Ty::Names(names) => format!("a list of names from {}", names.join(", ")),
            Ty::Duration { percent: true, .. } => {
                "a length like `5 epochs`, `1k steps` or `5%`".into()
            }
            Ty::Duration { time: true, .. } => {
                "a period like `1 epoch`, `500 steps` or `30 min`".into()
            }
            Ty::Duration { .. } => "a length like `5 epochs` or `1k steps`".into(),
            Ty::Source => "a data source like `image_folder(\"path\")`".into(),
            Ty::Opt(inner) => format!("{} or `none`", inner.describe()),
        }
    }
}

/// One field of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Full dotted path, e.g. `augment.mix.cutmix`.
    pub path: &'static str,
    pub ty: Ty,
    /// The default, as recipe source text; `None` = required.
    pub default: Option<&'static str>,
    /// What it means, and where the default comes from.
    pub doc: &'static str,
}

/// A block; optional blocks are absent unless a recipe writes them.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub path: &'static str,
    pub optional: bool,
    pub doc: &'static str,
}

const fn int(min: i64, max: i64) -> Ty {
    Ty::Int { min, max }
}
/// `[min, max]`
const fn closed(min: f64, max: f64) -> Ty {
    Ty::Float {
        min,
        max,
        min_open: false,
        max_open: false,
    }
}
/// `[min, max)`
const fn half_open(min: f64, max: f64) -> Ty {
    Ty::Float {
        min,
        max,
        min_open: false,
        max_open: true,
    }
}
/// `(min, max]`
const fn positive(max: f64) -> Ty {
    Ty::Float {
        min: 0.0,
        max,
        min_open: true,
        max_open: false,
    }
}

const PROB: Ty = closed(0.0, 1.0);
const INTERP: Ty = Ty::Enum(&["bicubic", "bilinear", "nearest"]);
const COUNT: Ty = int(1, 1 << 20);
const OPT_CLASSES: Ty = Ty::Opt(&int(1, 1_000_000));
const INF: f64 = f64::INFINITY;

pub static BLOCKS: &[Block] = &[
    Block {
        path: "model",
        optional: false,
        doc: "The vision transformer's shape.",
    },
    Block {
        path: "data",
        optional: false,
        doc: "Train/val sources and normalisation.",
    },
    Block {
        path: "augment",
        optional: false,
        doc: "The training augmentation stack.",
    },
    Block {
        path: "augment.crop",
        optional: false,
        doc: "The first, geometric stage.",
    },
    Block {
        path: "augment.rand_augment",
        optional: true,
        doc: "RandAugment (timm `rand-m9-mstd0.5-inc1` with the defaults).",
    },
    Block {
        path: "augment.random_erasing",
        optional: true,
        doc: "RandomErasing on the normalised tensor.",
    },
    Block {
        path: "augment.mix",
        optional: true,
        doc: "Mixup/CutMix, timm `batch` mode.",
    },
    Block {
        path: "optimizer",
        optional: false,
        doc: "AdamW or SGD, with decay groups.",
    },
    Block {
        path: "schedule",
        optional: false,
        doc: "Learning-rate schedule and training length.",
    },
    Block {
        path: "distill",
        optional: false,
        doc: "Knowledge distillation.",
    },
    Block {
        path: "distill.teacher",
        optional: true,
        doc: "The teacher network.",
    },
    Block {
        path: "train",
        optional: false,
        doc: "Batch, seed, EMA, evaluation, checkpoints, device, precision.",
    },
    Block {
        path: "finetune",
        optional: true,
        doc: "Start from a checkpoint, possibly at another resolution.",
    },
];

pub static FIELDS: &[Field] = &[
    // ---- model ----
    Field { path: "model.family", ty: Ty::Enum(&["deit", "vit", "convnet"]), default: Some("deit"), doc: "Architecture family; only `deit` may carry a distillation token; `convnet` is the small convolutional teacher (its fields: `image`, `channels`, `width`, `dropout`, `classes`)." },
    Field { path: "model.patch", ty: int(1, 1024), default: Some("16"), doc: "Patch side P; the patch embedding is a stride-P P×P convolution." },
    Field { path: "model.image", ty: int(1, 4096), default: Some("224"), doc: "Input image side in pixels (square)." },
    Field { path: "model.channels", ty: int(1, 64), default: Some("3"), doc: "Input channels." },
    Field { path: "model.embed", ty: int(1, 1 << 16), default: None, doc: "Embedding dimension D (Ti 192, S 384, B 768)." },
    Field { path: "model.depth", ty: int(1, 1024), default: None, doc: "Number of transformer blocks (12 for DeiT)." },
    Field { path: "model.heads", ty: int(1, 1024), default: None, doc: "Attention heads; DeiT keeps 64 dims per head." },
    Field { path: "model.mlp_ratio", ty: positive(64.0), default: Some("4.0"), doc: "MLP hidden width as a multiple of D." },
    Field { path: "model.qkv_bias", ty: Ty::Bool, default: Some("true"), doc: "Bias on the fused qkv projection." },
    Field { path: "model.drop_path", ty: half_open(0.0, 1.0), default: Some("0.1"), doc: "Stochastic depth; block i uses linspace(0, drop_path, depth)[i] (`--drop-path 0.1`)." },
    Field { path: "model.dropout", ty: half_open(0.0, 1.0), default: Some("0.0"), doc: "Dropout after the position embedding and in the MLP (`--drop 0.0`)." },
    Field { path: "model.distilled", ty: Ty::Bool, default: Some("false"), doc: "Add a distillation token (index 1) and `head_dist`." },
    Field { path: "model.classes", ty: OPT_CLASSES, default: Some("none"), doc: "Output classes; `none` takes `data.classes`." },
    Field { path: "model.width", ty: int(1, 4096), default: Some("32"), doc: "`convnet` only: channels of the first stage of 3×3 convolutions; the second stage has twice as many." },
    // ---- data ----
    Field { path: "data.train", ty: Ty::Source, default: None, doc: "Training source." },
    Field { path: "data.val", ty: Ty::Source, default: None, doc: "Validation source." },
    Field { path: "data.classes", ty: OPT_CLASSES, default: Some("none"), doc: "Class count; `none` takes it from the source (a folder's sub-directories, CIFAR's 10/100, …)." },
    Field { path: "data.mean", ty: Ty::Floats { len: None, min: -INF, max: INF }, default: Some("[0.485, 0.456, 0.406]"), doc: "Per-channel normalisation mean (ImageNet's by default)." },
    Field { path: "data.std", ty: Ty::Floats { len: None, min: 1e-12, max: INF }, default: Some("[0.229, 0.224, 0.225]"), doc: "Per-channel normalisation std." },
    Field { path: "data.eval_crop", ty: positive(1.0), default: Some("0.875"), doc: "Eval resizes the short side to image/eval_crop, then center-crops (`--eval-crop-ratio`)." },
    Field { path: "data.skip_unreadable", ty: Ty::Bool, default: Some("false"), doc: "Leave out image files that cannot be decoded, with a count at the end of the run, instead of stopping at the first." },
    Field { path: "data.preload", ty: Ty::Enum(&["auto", "always", "never"]), default: Some("auto"), doc: "Image folders: decode every image into memory before training (`always`), read each from disk when a batch needs it (`never`), or preload when the decoded split fits in 2 GiB (`auto`)." },
    Field { path: "data.interpolation", ty: INTERP, default: Some("bicubic"), doc: "Eval resize interpolation." },
    // ---- augment ----
    Field { path: "augment.crop.kind", ty: Ty::Enum(&["random_resized", "random", "none"]), default: Some("random_resized"), doc: "RandomResizedCrop; the official code uses `random` (pad 4) for images ≤ 32 px." },
    Field { path: "augment.crop.scale", ty: Ty::Range { min: 0.0, max: 1.0 }, default: Some("0.08..1.0"), doc: "Area fraction range of random_resized." },
    Field { path: "augment.crop.ratio", ty: Ty::Range { min: 1e-6, max: 1e6 }, default: Some("(3/4)..(4/3)"), doc: "Aspect-ratio range of random_resized (log-uniform)." },
    Field { path: "augment.crop.interpolation", ty: INTERP, default: Some("bicubic"), doc: "Resize interpolation (`--train-interpolation`)." },
    Field { path: "augment.crop.padding", ty: int(0, 1024), default: Some("4"), doc: "Zero padding of `random` crops." },
    Field { path: "augment.hflip", ty: PROB, default: Some("0.5"), doc: "Horizontal flip probability." },
    Field { path: "augment.rand_augment.ops", ty: int(0, 16), default: Some("2"), doc: "Ops per image, drawn with replacement." },
    Field { path: "augment.rand_augment.magnitude", ty: closed(0.0, 10.0), default: Some("9"), doc: "Mean magnitude m (`m9`)." },
    Field { path: "augment.rand_augment.magnitude_std", ty: closed(0.0, 100.0), default: Some("0.5"), doc: "Per-op magnitude noise, clipped to [0, 10] (`mstd0.5`)." },
    Field { path: "augment.rand_augment.increasing", ty: Ty::Bool, default: Some("true"), doc: "Use the \"increasing\" op list (`inc1`)." },
    Field { path: "augment.rand_augment.prob", ty: PROB, default: Some("0.5"), doc: "Probability each drawn op is applied." },
    Field { path: "augment.auto_augment", ty: Ty::Opt(&Ty::Enum(&["original", "v0"])), default: Some("none"), doc: "AutoAugment ImageNet policy instead of RandAugment (the paper's ablation)." },
    Field { path: "augment.color_jitter", ty: Ty::Opt(&closed(0.0, 1.0)), default: Some("none"), doc: "ColorJitter strength; timm ignores it when RandAugment/AutoAugment is on." },
    Field { path: "augment.random_erasing.prob", ty: PROB, default: Some("0.25"), doc: "Erasing probability (`--reprob`)." },
    Field { path: "augment.random_erasing.mode", ty: Ty::Enum(&["pixel", "rand", "const"]), default: Some("pixel"), doc: "Fill: per-pixel noise, per-channel noise or zeros (`--remode`)." },
    Field { path: "augment.random_erasing.count", ty: int(1, 100), default: Some("1"), doc: "Most boxes per image (`--recount`)." },
    Field { path: "augment.random_erasing.area", ty: Ty::Range { min: 0.0, max: 1.0 }, default: Some("0.02..(1/3)"), doc: "Erased area fraction range." },
    Field { path: "augment.random_erasing.aspect", ty: Ty::Range { min: 1e-6, max: 1e6 }, default: Some("0.3..(1 / 0.3)"), doc: "Box aspect range (log-uniform; timm's 0.3 to 1/0.3)." },
    Field { path: "augment.mix.mixup", ty: closed(0.0, 100.0), default: Some("0.8"), doc: "Mixup Beta(α, α); 0 disables (`--mixup`)." },
    Field { path: "augment.mix.cutmix", ty: closed(0.0, 100.0), default: Some("1.0"), doc: "CutMix Beta(α, α); 0 disables (`--cutmix`)." },
    Field { path: "augment.mix.prob", ty: PROB, default: Some("1.0"), doc: "Probability a batch is mixed (`--mixup-prob`)." },
    Field { path: "augment.mix.switch_prob", ty: PROB, default: Some("0.5"), doc: "Probability of CutMix when both are on (`--mixup-switch-prob`)." },
    Field { path: "augment.label_smoothing", ty: half_open(0.0, 1.0), default: Some("0.1"), doc: "Label smoothing, folded into the mixed targets (`--smoothing`)." },
    Field { path: "augment.repeated", ty: int(1, 64), default: Some("3"), doc: "Repeated augmentation: copies of each selected image per epoch (RASampler)." },
    // ---- optimizer ----
    Field { path: "optimizer.kind", ty: Ty::Enum(&["adamw", "sgd"]), default: Some("adamw"), doc: "AdamW (decoupled decay) or SGD with momentum." },
    Field { path: "optimizer.lr", ty: positive(10.0), default: Some("5e-4 * train.batch / 512"), doc: "Peak learning rate; the official rule scales 5e-4 by batch/512." },
    Field { path: "optimizer.betas", ty: Ty::Floats { len: Some(2), min: 0.0, max: 0.999_999_999 }, default: Some("[0.9, 0.999]"), doc: "Adam betas." },
    Field { path: "optimizer.eps", ty: positive(1.0), default: Some("1e-8"), doc: "Adam epsilon (`--opt-eps`)." },
    Field { path: "optimizer.momentum", ty: half_open(0.0, 1.0), default: Some("0.9"), doc: "SGD momentum." },
    Field { path: "optimizer.weight_decay", ty: closed(0.0, 10.0), default: Some("0.05"), doc: "Decoupled weight decay." },
    Field { path: "optimizer.no_decay", ty: Ty::Names(&["bias", "norm", "pos_embed", "cls_token", "dist_token"]), default: Some("[bias, norm, pos_embed, cls_token]"), doc: "Parameters without decay; the official set is the 1-D ones (biases, norms) plus pos_embed and cls_token — dist_token is decayed." },
    Field { path: "optimizer.clip_grad", ty: Ty::Opt(&positive(INF)), default: Some("none"), doc: "Global-norm gradient clipping (`--clip-grad`)." },
    // ---- schedule ----
    Field { path: "schedule.kind", ty: Ty::Enum(&["cosine", "step", "constant"]), default: Some("cosine"), doc: "Cosine decay with linear warmup, step decay, or constant." },
    Field { path: "schedule.length", ty: Ty::Duration { percent: false, time: false, min: 1 }, default: Some("300 epochs"), doc: "Training length (`--epochs`)." },
    Field { path: "schedule.warmup", ty: Ty::Duration { percent: true, time: false, min: 0 }, default: Some("5 epochs"), doc: "Linear warmup; `5%` is a fraction of the length (`--warmup-epochs`)." },
    Field { path: "schedule.warmup_lr", ty: closed(0.0, 10.0), default: Some("1e-6"), doc: "Learning rate at the start of warmup." },
    Field { path: "schedule.min_lr", ty: closed(0.0, 10.0), default: Some("1e-5"), doc: "Floor of the cosine." },
    Field { path: "schedule.unit", ty: Ty::Enum(&["epochs", "steps"]), default: Some("epochs"), doc: "Update per epoch (official, stepped after each epoch) or per step." },
    Field { path: "schedule.decay_every", ty: Ty::Duration { percent: false, time: false, min: 1 }, default: Some("30 epochs"), doc: "Step schedule period (`--decay-epochs`)." },
    Field { path: "schedule.decay_rate", ty: positive(1.0), default: Some("0.1"), doc: "Step schedule factor (`--decay-rate`)." },
    // ---- distill ----
    Field { path: "distill.mode", ty: Ty::Enum(&["none", "soft", "hard"]), default: Some("none"), doc: "Distillation loss (`--distillation-type`)." },
    Field { path: "distill.alpha", ty: PROB, default: Some("0.5"), doc: "Loss weight: (1−α)·base + α·kd (`--distillation-alpha`)." },
    Field { path: "distill.tau", ty: positive(100.0), default: Some("1.0"), doc: "Soft-distillation temperature (`--distillation-tau`)." },
    Field { path: "distill.eval_head", ty: Ty::Enum(&["average", "cls", "dist"]), default: Some("average"), doc: "Which head predicts at eval; `average` is (cls + dist)/2 logits." },
    Field { path: "distill.teacher.arch", ty: Ty::Enum(&["regnety_160", "convnet", "deit"]), default: None, doc: "Teacher architecture (`--teacher-model`)." },
    Field { path: "distill.teacher.checkpoint", ty: Ty::Str, default: None, doc: "Teacher weights (`--teacher-path`)." },
    Field { path: "distill.teacher.recipe", ty: Ty::Opt(&Ty::Str), default: Some("none"), doc: "The recipe of a `deit` teacher." },
    Field { path: "distill.teacher.classes", ty: OPT_CLASSES, default: Some("none"), doc: "The teacher's class count; `none` = the data's." },
    // ---- train ----
    Field { path: "train.batch", ty: COUNT, default: Some("1024"), doc: "Global batch, repeats included (16 GPUs × 64)." },
    Field { path: "train.seed", ty: int(0, u32::MAX as i64), default: Some("0"), doc: "Seed of every random stream." },
    Field { path: "train.ema", ty: Ty::Opt(&half_open(0.0, 1.0)), default: Some("0.99996"), doc: "EMA decay per step; `none` disables it (`--model-ema-decay`)." },
    Field { path: "train.ema_eval", ty: Ty::Bool, default: Some("false"), doc: "Also evaluate the EMA weights (the official code only saves them)." },
    Field { path: "train.eval_every", ty: Ty::Duration { percent: false, time: false, min: 1 }, default: Some("1 epochs"), doc: "Validation period." },
    Field { path: "train.checkpoint_every", ty: Ty::Duration { percent: false, time: true, min: 1 }, default: Some("1 epochs"), doc: "Checkpoint period: every so many epochs (at the epoch's end), optimizer steps (mid-epoch included) or wall-clock time (`30 min`, `2 h`, `90 s`, after the step that reaches it)." },
    Field { path: "train.output", ty: Ty::Str, default: Some("\"runs\""), doc: "Folder of run directories." },
    Field { path: "train.device", ty: Ty::Enum(&["cpu", "cuda"]), default: Some("cpu"), doc: "Where to train." },
    Field { path: "train.precision", ty: Ty::Enum(&["fp32", "tf32", "bf16"]), default: Some("fp32"), doc: "Arithmetic: strict fp32; TF32 tensor-core matmuls on CUDA; or bf16 activations and matmul inputs with fp32 master weights (a CPU run trains in fp32)." },
    // ---- finetune ----
    Field { path: "finetune.from", ty: Ty::Str, default: None, doc: "Checkpoint to start from (`--finetune`)." },
    Field { path: "finetune.from_image", ty: Ty::Opt(&int(1, 4096)), default: Some("none"), doc: "The checkpoint's image size; `none` = same as `model.image`." },
    Field { path: "finetune.pos_embed", ty: Ty::Enum(&["bicubic", "bilinear", "none"]), default: Some("bicubic"), doc: "Position-embedding interpolation on a resolution change." },
    Field { path: "finetune.reset_head", ty: Ty::Enum(&["auto", "always", "never"]), default: Some("auto"), doc: "`auto` drops heads whose class count differs, as the official code." },
    Field { path: "finetune.train_mode", ty: Ty::Bool, default: Some("false"), doc: "Drop-path/dropout on while fine-tuning (DeiT III); DeiT-I fine-tuned in eval mode." },
];

pub fn field(path: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.path == path)
}

pub fn block(path: &str) -> Option<&'static Block> {
    BLOCKS.iter().find(|b| b.path == path)
}

/// The parent block of a path (`""` for top level).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(p, _)| p)
}

/// The names directly inside `block` (`""` = top level): its fields and sub-blocks.
pub fn children(block: &str) -> Vec<&'static str> {
    let fields = FIELDS.iter().map(|f| f.path);
    let blocks = BLOCKS.iter().map(|b| b.path);
    fields
        .chain(blocks)
        .filter(|p| parent(p) == block)
        .map(|p| p.rsplit('.').next().unwrap_or(p))
        .collect()
}

/// The optional block that contains `path`, if any (innermost first).
pub fn optional_ancestor(path: &str) -> Option<&'static Block> {
    let mut p = parent(path);
    while !p.is_empty() {
        if let Some(b) = block(p).filter(|b| b.optional) {
            return Some(b);
        }
        p = parent(p);
    }
    None
}

/// Data-source functions: name, usage, known class count.
pub static SOURCES: &[(&str, &str)] = &[
    ("image_folder", "image_folder(\"path/to/split\")"),
    ("cifar10", "cifar10(\"path\", split = train|val)"),
    ("cifar100", "cifar100(\"path\", split = train|val)"),
    (
        "fashion_mnist",
        "fashion_mnist(\"path\", split = train|val)",
    ),
    ("mnist", "mnist(\"path\", split = train|val)"),
    ("digits", "digits(split = train|val)"),
    (
        "synthetic",
        "synthetic(samples = 512, classes = 10, seed = 0)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_lives_in_a_declared_block() {
        for f in FIELDS {
            assert!(block(parent(f.path)).is_some(), "{}", f.path);
        }
        for b in BLOCKS {
            let p = parent(b.path);
            assert!(p.is_empty() || block(p).is_some(), "{}", b.path);
        }
    }

    #[test]
    fn quantity_units_are_not_field_names() {
        for f in FIELDS {
            let name = f.path.rsplit('.').next().unwrap_or_default();
            assert!(!["epoch", "epochs", "step", "steps"].contains(&name));
        }
    }
}
