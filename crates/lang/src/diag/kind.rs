//! Every kind of diagnostic deitc reports, with its stable code, message, label and help.
//! This is the only place where diagnostic wording lives.

use super::{did_you_mean, Severity};

#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    // ---- reading files ------------------------------------------------------------------
    /// `deitc check nope.deit`
    FileNotFound {
        path: String,
    },
    /// `extends "nope.deit"`
    BaseNotFound {
        path: String,
    },
    /// `deitc check recipes/`
    IsDirectory {
        path: String,
    },
    /// A recipe over 1 MiB.
    TooLarge {
        path: String,
        bytes: u64,
    },
    /// A file with NUL bytes.
    Binary {
        path: String,
    },
    /// Bytes that are not UTF-8.
    NotUtf8 {
        path: String,
        offset: usize,
    },
    /// Any other I/O failure.
    Unreadable {
        path: String,
        message: String,
    },

    // ---- syntax -------------------------------------------------------------------------
    /// `model { embed = }`
    Syntax {
        expected: String,
        found: String,
        cli: bool,
    },
    /// `x = ((((((…))))))` beyond the nesting limit.
    TooDeep {
        max: usize,
    },
    /// An expression with thousands of operators.
    TooComplex {
        max: usize,
    },
    /// `batch = 99999999999999999999`
    BadNumber {
        text: String,
    },

    // ---- extends ------------------------------------------------------------------------
    /// `a.deit` extends `b.deit` extends `a.deit`.
    ExtendsCycle {
        chain: Vec<String>,
    },

    // ---- structure ----------------------------------------------------------------------
    /// `modle { … }`
    UnknownBlock {
        name: String,
        suggestion: Option<String>,
    },
    /// `model { embd = 192 }`
    UnknownField {
        block: String,
        name: String,
        suggestion: Option<String>,
    },
    /// `optimizer { lr { … } }`, `model.embed.x = 3`
    NotABlock {
        path: String,
    },
    /// `model = 3`
    NotAField {
        path: String,
    },
    /// `model { }` without `embed`.
    MissingField {
        path: String,
        example: String,
    },
    /// The same field twice in one file.
    DuplicateField {
        path: String,
    },
    /// `model = none`
    NotOptional {
        path: String,
    },

    // ---- types and values ---------------------------------------------------------------
    /// `depth = "twelve"`
    TypeMismatch {
        path: String,
        expected: String,
        found: String,
    },
    /// `kind = adam`
    UnknownVariant {
        path: String,
        value: String,
        variants: Vec<String>,
        suggestion: Option<String>,
    },
    /// `length = 300`
    MissingUnit {
        path: String,
        value: String,
        units: String,
    },
    /// `warmup = 5%` where a count is needed, `eval_every = 5%`.
    WrongUnit {
        path: String,
        unit: String,
        expected: String,
    },
    /// `drop_path = 1.5`
    OutOfRange {
        path: String,
        value: String,
        range: String,
    },
    /// `heads = model.embed / 100`
    NotInteger {
        path: String,
        value: String,
    },
    /// `betas = [0.9]`
    ListLength {
        path: String,
        expected: usize,
        found: usize,
    },
    /// `scale = 1.0..0.08`
    EmptyRange {
        path: String,
        lo: String,
        hi: String,
    },

    // ---- expressions --------------------------------------------------------------------
    /// `lr = 5e-4 * train.bach / 512`
    UnknownReference {
        path: String,
        suggestion: Option<String>,
    },
    /// `x = model` as a reference to a whole block.
    ReferenceToBlock {
        path: String,
    },
    /// `a.x = a.y` and `a.y = a.x`.
    ReferenceCycle {
        chain: Vec<String>,
    },
    /// `lr = 1 / 0`
    DivisionByZero,
    /// `lr = "a" * 2`
    BadOperands {
        op: String,
        left: String,
        right: String,
    },
    /// `train = image_foldr("…")`
    UnknownFunction {
        name: String,
        suggestion: Option<String>,
    },
    /// `synthetic(samples = "x")`
    BadArguments {
        function: String,
        problem: String,
        usage: String,
    },

    // ---- cross-field rules --------------------------------------------------------------
    EmbedHeads {
        embed: usize,
        heads: usize,
    },
    ImagePatch {
        image: usize,
        patch: usize,
    },
    MlpHidden {
        embed: usize,
        ratio: f64,
    },
    OddBatchMix {
        batch: usize,
    },
    TeacherRequired {
        mode: String,
    },
    TeacherClasses {
        teacher: usize,
        data: usize,
    },
    TeacherChannels {
        channels: usize,
    },
    ModelClasses {
        model: usize,
        data: usize,
    },
    SourceClasses {
        source: usize,
        data: usize,
    },
    ClassesUnknown,
    WarmupTooLong {
        warmup: String,
        length: String,
    },
    ChannelStats {
        channels: usize,
        field: String,
        found: usize,
    },
    EvalHeadNeedsToken {
        head: String,
    },
    ResolutionNeedsInterpolation {
        from: usize,
        to: usize,
    },
    EmptyEpoch {
        samples: usize,
        batch: usize,
        /// Repeated augmentation is on (it rounds the epoch down to a multiple of 256).
        repeated: bool,
    },
    TwoPolicies,
    VitDistilled {
        family: String,
    },
    /// A convnet halves its image once: the side must be even.
    ConvnetImage {
        image: usize,
    },

    // ---- warnings -----------------------------------------------------------------------
    InertColorJitter,
    /// A field set explicitly that the chosen configuration never reads.
    InertField {
        path: String,
        reason: String,
    },
    DistHeadUntrained,
    /// A checkpoint or recipe the recipe names does not exist here.
    FileMissing {
        field: String,
        path: String,
    },
    /// Settings `deitc run` does not implement yet.
    NotTrainable {
        features: Vec<String>,
    },
    UnusedTeacher {
        mode: String,
    },
    DataNotFound {
        path: String,
    },
    FinetuneWithDistill,
    MinLrAboveLr {
        min_lr: f64,
        lr: f64,
    },
    RepeatedAugSmall {
        samples: usize,
    },

    // ---- running ------------------------------------------------------------------------
    /// The recipe's model shape has no compiled graph.
    ShapeNotCompiled {
        shape: String,
        nearest: Vec<String>,
    },
    /// A dataset could not be loaded.
    DataLoad {
        message: String,
    },
    /// The loss became NaN or infinite.
    NonFinite {
        epoch: u64,
        step: u64,
        loss: f64,
    },
    /// A checkpoint could not be written or read.
    Checkpoint {
        path: String,
        message: String,
    },
    /// `distill.teacher.recipe` names a recipe that does not check (or names itself).
    TeacherRecipe {
        path: String,
        errors: usize,
        cycle: bool,
    },
    /// The teacher cannot be built or loaded.
    Teacher {
        message: String,
    },
    /// `--resume` found a run of a different recipe.
    ResumeMismatch {
        dir: String,
    },
    /// Nothing to resume.
    NothingToResume {
        dir: String,
    },
    /// `--device cuda` on a build without the `cuda` feature.
    NoCuda,
    /// The device exists in this build but could not be opened (no GPU, no driver).
    DeviceUnavailable {
        device: String,
        message: String,
    },

    // ---- generated graphs --------------------------------------------------------------
    /// A generated graph needs cargo, and none runs.
    NoCargo {
        cargo: String,
        message: String,
    },
    /// A generated graph needs deitc's source, and it is not where this build says.
    GraphSource {
        path: String,
    },
    /// Cargo could not build a generated graph.
    GraphBuild {
        shape: String,
        message: String,
    },
    /// The model cannot have a generated graph (e.g. `qkv_bias = false`).
    GraphUnsupported {
        shape: String,
        reason: String,
    },

    // ---- interop (import, export, finetune.from) -----------------------------------------
    /// A weight file that cannot be read (missing, a directory, not safetensors).
    WeightsUnreadable {
        path: String,
        message: String,
    },
    /// A PyTorch `.pth` file this reader cannot take (legacy format, unusual pickle).
    Pth {
        path: String,
        reason: String,
    },
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
    WeightsUnexpected {
        path: String,
        keys: Vec<String>,
    },
    /// A checkpoint with `dist_token` for a model without one.
    DistilledIntoPlain {
        path: String,
    },
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
    NotACheckpoint {
        path: String,
        what: String,
    },
    /// The converted file could not be written.
    WriteWeights {
        path: String,
        message: String,
    },
    /// An output file (e.g. `deitc preview`'s PNG) cannot be written.
    WriteOutput {
        path: String,
        message: String,
    },

    // ---- pipelines ----------------------------------------------------------------------
    /// `stage.techer.best` in a pipeline without that stage (or outside a pipeline).
    UnknownStage {
        name: String,
        stages: Vec<String>,
        suggestion: Option<String>,
    },
    /// `stage.teacher.final`
    StageOutput {
        stage: String,
        output: String,
        suggestion: Option<String>,
    },
    /// Two stages with one name.
    DuplicateStage {
        name: String,
    },
    /// `stage model { … }`: `--set model.x=…` could not tell the stage from the block.
    ReservedStage {
        name: String,
    },
    /// `extends` at the top of a pipeline, or a base file that is a pipeline.
    PipelineExtends {
        base: Option<String>,
    },
    /// Stages that use each other's outputs in a circle.
    StageCycle {
        chain: Vec<String>,
    },
    /// A stage's output that does not fit where a later stage uses it.
    StageMismatch {
        message: String,
        help: String,
    },
    /// A stage output whose stage has not finished a run of its current recipe.
    StageNotRun {
        message: String,
    },
    /// `--stage name` that the pipeline does not declare (or a recipe with no stages).
    NoSuchStage {
        name: String,
        stages: Vec<String>,
        suggestion: Option<String>,
    },

    // ---- bugs ---------------------------------------------------------------------------
    /// deitc itself is inconsistent (a bug to report).
    Internal {
        message: String,
    },
}

impl ErrorKind {
    /// The stable code, listed in docs/diagnostics.md.
    pub fn code(&self) -> &'static str {
        use ErrorKind::*;
        match self {
            FileNotFound { .. } => "deit::io::not_found",
            BaseNotFound { .. } => "deit::extends::not_found",
            IsDirectory { .. } => "deit::io::is_directory",
            TooLarge { .. } => "deit::io::too_large",
            Binary { .. } => "deit::io::binary",
            NotUtf8 { .. } => "deit::io::not_utf8",
            Unreadable { .. } => "deit::io::unreadable",
            Syntax { .. } => "deit::syntax::unexpected",
            TooDeep { .. } => "deit::syntax::too_deep",
            TooComplex { .. } => "deit::syntax::too_complex",
            BadNumber { .. } => "deit::syntax::bad_number",
            ExtendsCycle { .. } => "deit::extends::cycle",
            UnknownBlock { .. } => "deit::schema::unknown_block",
            UnknownField { .. } => "deit::schema::unknown_field",
            NotABlock { .. } => "deit::schema::not_a_block",
            NotAField { .. } => "deit::schema::not_a_field",
            MissingField { .. } => "deit::schema::missing_field",
            DuplicateField { .. } => "deit::schema::duplicate_field",
            NotOptional { .. } => "deit::schema::not_optional",
            TypeMismatch { .. } => "deit::type::mismatch",
            UnknownVariant { .. } => "deit::type::unknown_variant",
            MissingUnit { .. } => "deit::type::missing_unit",
            WrongUnit { .. } => "deit::type::wrong_unit",
            OutOfRange { .. } => "deit::value::out_of_range",
            NotInteger { .. } => "deit::value::not_integer",
            ListLength { .. } => "deit::value::list_length",
            EmptyRange { .. } => "deit::value::empty_range",
            UnknownReference { .. } => "deit::expr::unknown_reference",
            ReferenceToBlock { .. } => "deit::expr::reference_to_block",
            ReferenceCycle { .. } => "deit::expr::cycle",
            DivisionByZero => "deit::expr::division_by_zero",
            BadOperands { .. } => "deit::expr::bad_operands",
            UnknownFunction { .. } => "deit::source::unknown_function",
            BadArguments { .. } => "deit::source::bad_arguments",
            EmbedHeads { .. } => "deit::rule::embed_heads",
            ImagePatch { .. } => "deit::rule::image_patch",
            MlpHidden { .. } => "deit::rule::mlp_hidden",
            OddBatchMix { .. } => "deit::rule::odd_batch",
            TeacherRequired { .. } => "deit::rule::teacher_required",
            TeacherClasses { .. } => "deit::rule::teacher_classes",
            TeacherChannels { .. } => "deit::rule::teacher_channels",
            ModelClasses { .. } => "deit::rule::model_classes",
            SourceClasses { .. } => "deit::rule::source_classes",
            ClassesUnknown => "deit::rule::classes_unknown",
            WarmupTooLong { .. } => "deit::rule::warmup",
            ChannelStats { .. } => "deit::rule::channel_stats",
            EvalHeadNeedsToken { .. } => "deit::rule::eval_head",
            ResolutionNeedsInterpolation { .. } => "deit::rule::resolution",
            EmptyEpoch { .. } => "deit::rule::empty_epoch",
            TwoPolicies => "deit::rule::two_policies",
            VitDistilled { .. } => "deit::rule::vit_distilled",
            ConvnetImage { .. } => "deit::rule::convnet_image",
            InertColorJitter => "deit::lint::inert_color_jitter",
            InertField { .. } => "deit::lint::inert_field",
            DistHeadUntrained => "deit::lint::dist_head_untrained",
            NotTrainable { .. } => "deit::lint::not_trainable",
            FileMissing { .. } => "deit::lint::file_missing",
            UnusedTeacher { .. } => "deit::lint::unused_teacher",
            DataNotFound { .. } => "deit::lint::data_not_found",
            FinetuneWithDistill => "deit::lint::finetune_distill",
            MinLrAboveLr { .. } => "deit::lint::min_lr",
            RepeatedAugSmall { .. } => "deit::lint::repeated_aug_small",
            Internal { .. } => "deit::internal",
            ShapeNotCompiled { .. } => "deit::run::shape_not_compiled",
            DataLoad { .. } => "deit::run::data",
            NonFinite { .. } => "deit::run::non_finite",
            Checkpoint { .. } => "deit::run::checkpoint",
            TeacherRecipe { .. } => "deit::rule::teacher_recipe",
            Teacher { .. } => "deit::run::teacher",
            ResumeMismatch { .. } => "deit::run::resume_mismatch",
            NothingToResume { .. } => "deit::run::nothing_to_resume",
            NoCuda => "deit::run::no_cuda",
            DeviceUnavailable { .. } => "deit::run::device_unavailable",
            NoCargo { .. } => "deit::graph::no_cargo",
            GraphSource { .. } => "deit::graph::source",
            GraphBuild { .. } => "deit::graph::build",
            GraphUnsupported { .. } => "deit::graph::unsupported",
            WeightsUnreadable { .. } => "deit::interop::unreadable",
            Pth { .. } => "deit::interop::pth",
            WeightsDtype { .. } => "deit::interop::dtype",
            WeightsMissing { .. } => "deit::interop::missing_key",
            WeightsShape { .. } => "deit::interop::shape",
            WeightsUnexpected { .. } => "deit::interop::unexpected_key",
            DistilledIntoPlain { .. } => "deit::interop::distilled_into_plain",
            HeadClasses { .. } => "deit::interop::head_classes",
            FromImage { .. } => "deit::interop::from_image",
            ConvnetInterop => "deit::interop::convnet",
            NotACheckpoint { .. } => "deit::interop::not_a_checkpoint",
            WriteWeights { .. } => "deit::interop::write",
            WriteOutput { .. } => "deit::io::write",
            UnknownStage { .. } => "deit::stage::unknown",
            StageOutput { .. } => "deit::stage::output",
            DuplicateStage { .. } => "deit::stage::duplicate",
            ReservedStage { .. } => "deit::stage::reserved",
            PipelineExtends { .. } => "deit::stage::extends",
            StageCycle { .. } => "deit::stage::cycle",
            StageMismatch { .. } => "deit::stage::mismatch",
            NoSuchStage { .. } => "deit::stage::not_found",
            StageNotRun { .. } => "deit::stage::not_run",
        }
    }

    pub fn default_severity(&self) -> Severity {
        use ErrorKind::*;
        match self {
            InertColorJitter
            | InertField { .. }
            | DistHeadUntrained
            | NotTrainable { .. }
            | FileMissing { .. }
            | UnusedTeacher { .. }
            | DataNotFound { .. }
            | FinetuneWithDistill
            | MinLrAboveLr { .. }
            | RepeatedAugSmall { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// The one-line headline.
    pub fn message(&self) -> String {
        use ErrorKind::*;
        match self {
            FileNotFound { path } => format!("recipe `{path}` not found"),
            BaseNotFound { path } => format!("base recipe `{path}` not found"),
            IsDirectory { path } => format!("`{path}` is a directory, not a recipe file"),
            TooLarge { path, bytes } => {
                format!("`{path}` is {bytes} bytes; recipes are limited to 1 MiB")
            }
            Binary { path } => format!("`{path}` is a binary file, not a recipe"),
            NotUtf8 { path, offset } => {
                format!("`{path}` is not valid UTF-8 (first bad byte at offset {offset})")
            }
            Unreadable { path, message } => format!("cannot read `{path}`: {message}"),
            Syntax { expected, found, .. } => format!("expected {expected}, found {found}"),
            TooDeep { max } => format!("nesting deeper than {max} levels"),
            TooComplex { max } => format!("expression has more than {max} operators"),
            BadNumber { text } => format!("`{text}` is not a representable number"),
            ExtendsCycle { chain } => format!("`extends` cycle: {}", chain.join(" → ")),
            UnknownStage { name, stages, .. } if stages.is_empty() => {
                format!("`stage.{name}` names a stage, but this recipe declares no stages")
            }
            UnknownStage { name, .. } => format!("no stage named `{name}`"),
            StageOutput { stage, output, .. } if output.is_empty() => {
                format!("`stage.{stage}` needs the checkpoint it means: `best` or `last`")
            }
            StageOutput { stage, output, .. } => {
                format!("stage `{stage}` has no output `{output}`")
            }
            DuplicateStage { name } => format!("stage `{name}` is declared twice"),
            ReservedStage { name } => format!("a stage cannot be named `{name}`"),
            PipelineExtends { base: None } => "a pipeline cannot `extends` a base".into(),
            PipelineExtends { base: Some(b) } => {
                format!("`{b}` is a pipeline (it declares stages) and cannot be extended")
            }
            StageCycle { chain } => format!("stage cycle: {}", chain.join(" → ")),
            StageMismatch { message, .. } => message.clone(),
            StageNotRun { message } => message.clone(),
            NoSuchStage { name, stages, .. } if stages.is_empty() => {
                format!("`--stage {name}`: this recipe declares no stages")
            }
            NoSuchStage { name, .. } => format!("`--stage {name}`: no stage of that name"),
            UnknownBlock { name, .. } => format!("unknown block `{name}`"),
            UnknownField { block, name, .. } => format!("`{block}` has no field `{name}`"),
            NotABlock { path } => format!("`{path}` is a field, not a block"),
            NotAField { path } => format!("`{path}` is a block, not a field"),
            MissingField { path, .. } => format!("required field `{path}` is not set"),
            DuplicateField { path } => format!("`{path}` is set twice in the same file"),
            NotOptional { path } => format!("`{path}` cannot be removed"),
            TypeMismatch { path, expected, found } => {
                format!("`{path}` expects {expected}, found {found}")
            }
            UnknownVariant { path, value, .. } => format!("`{value}` is not a valid `{path}`"),
            MissingUnit { path, value, .. } => format!("`{path} = {value}` needs a unit"),
            WrongUnit { path, unit, expected } => {
                format!("`{path}` cannot be given in {unit}; it expects {expected}")
            }
            OutOfRange { path, value, range } => {
                format!("`{path}` = {value} is out of range {range}")
            }
            NotInteger { path, value } => format!("`{path}` must be a whole number, got {value}"),
            ListLength { path, expected, found } => {
                format!("`{path}` expects {}, found {found}", plural(*expected, "value"))
            }
            EmptyRange { path, lo, hi } => format!("`{path}` range {lo}..{hi} is empty"),
            UnknownReference { path, .. } => format!("`{path}` does not name a field"),
            ReferenceToBlock { path } => format!("`{path}` is a block; only fields can be referenced"),
            ReferenceCycle { chain } => format!("fields refer to each other: {}", chain.join(" → ")),
            DivisionByZero => "division by zero".to_string(),
            BadOperands { op, left, right } => format!("cannot apply `{op}` to {left} and {right}"),
            UnknownFunction { name, .. } => format!("unknown data source `{name}`"),
            BadArguments { function, problem, .. } => format!("`{function}(…)`: {problem}"),
            EmbedHeads { embed, heads } => {
                format!("embed dim {embed} is not divisible by {}", plural(*heads, "head"))
            }
            ImagePatch { image, patch } => {
                format!("image size {image} is not divisible by patch size {patch}")
            }
            MlpHidden { embed, ratio } => {
                format!("mlp_ratio {ratio} × embed {embed} is not a whole number of units")
            }
            OddBatchMix { batch } => format!("batch {batch} is odd, but mixup/cutmix pair each image with the reversed batch"),
            TeacherRequired { mode } => format!("`distill.mode = {mode}` needs a teacher"),
            TeacherClasses { teacher, data } => {
                format!("teacher predicts {teacher} classes but the data has {data}")
            }
            TeacherChannels { channels } => {
                let s = if *channels == 1 { "" } else { "s" };
                format!("`regnety_160` takes RGB images, but the model has {channels} channel{s}")
            }
            ModelClasses { model, data } => {
                format!("model has {model} classes but the data has {data}")
            }
            SourceClasses { source, data } => {
                format!("the data source has {source} classes but `data.classes` is {data}")
            }
            ClassesUnknown => "the number of classes is unknown".to_string(),
            WarmupTooLong { warmup, length } => {
                format!("warmup ({warmup}) is not shorter than the schedule ({length})")
            }
            ChannelStats { channels, field, found } => {
                format!("`data.{field}` has {} for {}", plural(*found, "value"), plural(*channels, "channel"))
            }
            EvalHeadNeedsToken { head } => {
                format!("`distill.eval_head = {head}` needs a distillation token")
            }
            ResolutionNeedsInterpolation { from, to } => format!(
                "fine-tuning from {from} px to {to} px needs position-embedding interpolation"
            ),
            EmptyEpoch { samples, batch, .. } => {
                format!("an epoch of {samples} samples holds no full batch of {batch}")
            }
            TwoPolicies => "RandAugment and AutoAugment are both enabled".to_string(),
            VitDistilled { family } => format!("a `{family}` has no distillation token"),
            ConvnetImage { image } => format!("a convnet needs an even image side, not {image}"),
            InertColorJitter => "`augment.color_jitter` has no effect".to_string(),
            InertField { path, reason } => format!("`{path}` has no effect {reason}"),
            FileMissing { field, path } => format!("`{field}` names `{path}`, which does not exist here"),
            NotTrainable { features } => {
                format!("`deitc run` cannot train this recipe yet: {}", features.join(", "))
            }
            DistHeadUntrained => {
                "the distillation head gets no training signal without distillation".to_string()
            }
            UnusedTeacher { mode } => format!("the teacher is unused with `distill.mode = {mode}`"),
            DataNotFound { path } => format!("data path `{path}` does not exist here"),
            FinetuneWithDistill => {
                "fine-tuning with distillation differs from the official code".to_string()
            }
            MinLrAboveLr { min_lr, lr } => format!(
                "min_lr {} is above the peak lr {}",
                crate::check::show_f64(*min_lr),
                crate::check::show_f64(*lr)
            ),
            Internal { message } => format!("internal error: {message}"),
            ShapeNotCompiled { shape, .. } => format!("no compiled-in graph for the shape {shape}"),
            DataLoad { message } => format!("cannot load the data: {message}"),
            NonFinite { epoch, step, loss } => format!("the loss became {loss} at epoch {epoch}, step {step}"),
            Checkpoint { path, message } => format!("checkpoint `{path}`: {message}"),
            TeacherRecipe { path, cycle: true, .. } => format!("the teacher's recipe `{path}` is a recipe this one is already the teacher of"),
            TeacherRecipe { path, errors, .. } => format!("the teacher's recipe `{path}` does not check ({})", plural(*errors, "error")),
            Teacher { message } => format!("teacher: {message}"),
            ResumeMismatch { dir } => format!("`{dir}` was trained with a different recipe"),
            NothingToResume { dir } => format!("no checkpoint to resume under `{dir}`"),
            NoCuda => "this build of deitc has no CUDA support".to_string(),
            DeviceUnavailable { device, message } => {
                format!("cannot open the `{device}` device: {message}")
            }
            NoCargo { cargo, message } => format!(
                "this model's shape needs a generated graph, built with cargo, but `{cargo}` does not run: {message}"
            ),
            GraphSource { path } => format!(
                "a generated graph is built against deitc's source, and `{path}` does not hold it"
            ),
            GraphBuild { shape, message } => {
                format!("cargo could not build the graph for {shape}:\n{message}")
            }
            GraphUnsupported { shape, reason } => {
                format!("no graph can be generated for {shape}: {reason}")
            }
            RepeatedAugSmall { samples } => format!(
                "repeated augmentation rounds each epoch down to a multiple of 256 samples ({samples} here)"
            ),
            WeightsUnreadable { path, message } => format!("cannot read the weights in `{path}`: {message}"),
            Pth { path, reason } => format!("cannot read `{path}` directly: {reason}"),
            WeightsDtype { path, key, found } => {
                format!("`{key}` in `{path}` has dtype {found}; model weights must be floating point")
            }
            WeightsMissing { path, keys, .. } => format!(
                "`{path}` lacks {} the model needs: {}",
                plural(keys.len(), "tensor"),
                first_few(keys)
            ),
            WeightsShape { path, key, found, expected, .. } => {
                format!("`{key}` is {found:?} in `{path}`, but the model needs {expected:?}")
            }
            WeightsUnexpected { path, keys } => format!(
                "`{path}` has {} the model lacks: {}",
                plural(keys.len(), "tensor"),
                first_few(keys)
            ),
            DistilledIntoPlain { path } => format!(
                "`{path}` is a distilled checkpoint (`dist_token`, `head_dist`), but the model has no distillation token"
            ),
            HeadClasses { key, found, expected, .. } => format!(
                "`{key}` is {found:?} in the checkpoint but the model needs {expected:?}, and `finetune.reset_head = never`"
            ),
            FromImage { path, from_image, grid, patch } => format!(
                "`finetune.from_image = {from_image}`, but the position embedding in `{path}` has a {grid}×{grid} grid ({} px at patch {patch})",
                grid * patch
            ),
            ConvnetInterop => "timm has no counterpart of deitc's `convnet`".to_string(),
            NotACheckpoint { path, what } => format!("`{path}` holds no {what} of a deitc checkpoint"),
            WriteWeights { path, message } | WriteOutput { path, message } => {
                format!("cannot write `{path}`: {message}")
            }
        }
    }

    /// The default text under the primary span.
    pub fn label(&self) -> String {
        use ErrorKind::*;
        match self {
            Syntax { expected, .. } => format!("expected {expected}"),
            TooDeep { .. } => "nesting limit reached here".into(),
            TooComplex { .. } => "in this expression".into(),
            BadNumber { .. } => "too large".into(),
            ExtendsCycle { .. } => "this closes the cycle".into(),
            UnknownStage { .. } => "no such stage".into(),
            StageOutput { .. } => "not `best` or `last`".into(),
            DuplicateStage { .. } => "declared again here".into(),
            ReservedStage { .. } => "a block's name".into(),
            PipelineExtends { .. } => "extended here".into(),
            StageCycle { .. } => "this closes the cycle".into(),
            StageMismatch { .. } => "used here".into(),
            StageNotRun { .. } => "here".into(),
            NoSuchStage { .. } => "here".into(),
            UnknownBlock { .. } => "unknown block".into(),
            UnknownField { block, .. } => format!("not a field of `{block}`"),
            NotABlock { .. } => "written as a block".into(),
            NotAField { .. } => "given a value".into(),
            MissingField { .. } => "in this recipe".into(),
            DuplicateField { .. } => "set again here".into(),
            NotOptional { .. } => "removed here".into(),
            TypeMismatch { found, .. } => format!("this is {found}"),
            UnknownVariant { .. } => "unknown value".into(),
            MissingUnit { .. } => "no unit".into(),
            WrongUnit { unit, .. } => format!("in {unit}"),
            OutOfRange { value, .. } => value.clone(),
            NotInteger { value, .. } => format!("evaluates to {value}"),
            ListLength { found, .. } => plural(*found, "value"),
            EmptyRange { .. } => "low end above high end".into(),
            UnknownReference { .. } => "no such field".into(),
            ReferenceToBlock { .. } => "a block".into(),
            ReferenceCycle { .. } => "this reference closes the cycle".into(),
            DivisionByZero => "divisor is zero".into(),
            BadOperands { .. } => "here".into(),
            UnknownFunction { .. } => "unknown source".into(),
            BadArguments { .. } => "in this call".into(),
            EmbedHeads { heads, .. } => plural(*heads, "head"),
            ImagePatch { patch, .. } => format!("patch {patch}"),
            MlpHidden { .. } => "this ratio".into(),
            OddBatchMix { .. } => "odd batch".into(),
            TeacherRequired { .. } => "distillation enabled here".into(),
            TeacherClasses { teacher, .. } => format!("{teacher} classes"),
            TeacherChannels { .. } => "an RGB teacher".into(),
            ModelClasses { model, .. } => format!("{model} classes"),
            SourceClasses { .. } => "declared here".into(),
            ClassesUnknown => "classes come from this source".into(),
            WarmupTooLong { .. } => "warmup".into(),
            ChannelStats { found, .. } => plural(*found, "value"),
            EvalHeadNeedsToken { .. } => "this head".into(),
            ResolutionNeedsInterpolation { .. } => "interpolation disabled".into(),
            EmptyEpoch { .. } => "this batch".into(),
            TwoPolicies => "RandAugment".into(),
            VitDistilled { .. } => "distillation token".into(),
            ConvnetImage { .. } => "odd".into(),
            InertColorJitter => "ignored".into(),
            InertField { .. } => "never read".into(),
            DistHeadUntrained => "distillation token".into(),
            NotTrainable { .. } => "not implemented by the trainer yet".into(),
            FileMissing { .. } => "not found".into(),
            UnusedTeacher { .. } => "never used".into(),
            DataNotFound { .. } => "not found".into(),
            FinetuneWithDistill => "fine-tuning".into(),
            MinLrAboveLr { .. } => "min lr".into(),
            RepeatedAugSmall { .. } => "repeated augmentation".into(),
            Internal { .. } => "here".into(),
            ShapeNotCompiled { .. } => "this model".into(),
            DataLoad { .. } => "this source".into(),
            NonFinite { .. } => "here".into(),
            Checkpoint { .. } => "here".into(),
            TeacherRecipe { .. } => "this recipe".into(),
            Teacher { .. } => "this teacher".into(),
            ResumeMismatch { .. } | NothingToResume { .. } | NoCuda | DeviceUnavailable { .. } => {
                "here".into()
            }
            NoCargo { .. } | GraphSource { .. } | GraphBuild { .. } | GraphUnsupported { .. } => {
                "this model".into()
            }
            WeightsUnreadable { .. }
            | Pth { .. }
            | WeightsDtype { .. }
            | WeightsMissing { .. }
            | WeightsShape { .. }
            | WeightsUnexpected { .. }
            | DistilledIntoPlain { .. }
            | HeadClasses { .. }
            | FromImage { .. }
            | ConvnetInterop
            | NotACheckpoint { .. }
            | WriteWeights { .. }
            | WriteOutput { .. } => "here".into(),
            FileNotFound { .. }
            | BaseNotFound { .. }
            | IsDirectory { .. }
            | TooLarge { .. }
            | Binary { .. }
            | NotUtf8 { .. }
            | Unreadable { .. } => "read here".into(),
        }
    }

    /// The help line: what to do about it.
    pub fn help(&self) -> Option<String> {
        use ErrorKind::*;
        let h = match self {
            FileNotFound { .. } => "check the path; recipes ship under `recipes/`".to_string(),
            BaseNotFound { .. } => "`extends` paths are relative to the folder of the recipe that extends".into(),
            IsDirectory { .. } => "pass a `.deit` file, e.g. `recipes/deit_tiny_patch16_224.deit`".into(),
            TooLarge { .. } => "a recipe is a short text file; is this the right path?".into(),
            Binary { .. } | NotUtf8 { .. } => "recipes are UTF-8 text files".into(),
            Unreadable { .. } => "check that the path names a readable file".into(),
            Syntax { cli: true, .. } => "`--set` takes `path=value`, e.g. `--set optimizer.lr=1e-3`".into(),
            Syntax { .. } => "see docs/language.md for the syntax of recipes".into(),
            TooDeep { .. } => "flatten the expression or the blocks".into(),
            TooComplex { .. } => "split the expression; recipes hold short formulas".into(),
            BadNumber { text } if text.contains(['.', 'e', 'E', 'i']) => "numbers must be finite (below about 1.8e308)".into(),
            BadNumber { .. } => "whole numbers must fit in 64 bits".into(),
            ExtendsCycle { .. } => "remove one of the `extends` lines in the cycle".into(),
            UnknownStage { stages, .. } if stages.is_empty() => "stage outputs exist inside a pipeline (`stage name { … }` blocks); outside one, give the checkpoint's path".into(),
            UnknownStage { suggestion, stages, .. } => with_dym(
                suggestion,
                &format!("the stages are {}", stages.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")),
            ),
            StageOutput { suggestion, .. } => with_dym(
                suggestion,
                "`best` is the checkpoint with the highest val top-1, `last` the final one",
            ),
            DuplicateStage { .. } => "rename one of the stages".into(),
            ReservedStage { .. } => "`--set <stage>.<field>=…` addresses one stage, so stages cannot share a block's name (model, data, augment, optimizer, schedule, distill, train, finetune) or be named `stage`".into(),
            PipelineExtends { base: None } => "put `extends` inside each stage; top-level fields of a pipeline apply to every stage".into(),
            PipelineExtends { base: Some(_) } => "extend one of its stages' recipes instead, or add a stage to it".into(),
            StageCycle { .. } => "a stage can use only the outputs of stages that do not depend on it".into(),
            StageMismatch { help, .. } => help.clone(),
            StageNotRun { .. } => "`deitc run` on the pipeline runs every stage that is not up to date, in order".into(),
            NoSuchStage { suggestion, stages, .. } => match (suggestion, stages.is_empty()) {
                (_, true) => "`--stage` picks a stage of a pipeline; drop it for an ordinary recipe".into(),
                (Some(_), _) => did_you_mean(suggestion),
                (None, false) => format!("the stages are {}", stages.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")),
            },
            UnknownBlock { suggestion, .. } => with_dym(
                suggestion,
                "blocks are model, data, augment, optimizer, schedule, distill, train, finetune",
            ),
            UnknownField { suggestion, block, .. } => with_dym(
                suggestion,
                &format!("see the fields of `{block}` in docs/language.md"),
            ),
            NotABlock { path } => format!("write `{path} = <value>`"),
            NotAField { path } => format!("write `{path} {{ … }}`, or `delete {path}` to remove it"),
            MissingField { path, example } => format!("add `{path} = {example}`"),
            DuplicateField { .. } => "remove one of the two; the later one would win".into(),
            NotOptional { path } => format!("set its fields instead; in a recipe, `delete {path}` reverts it to the defaults"),
            TypeMismatch { expected, .. } => format!("write {expected}"),
            UnknownVariant { variants, suggestion, .. } => with_dym(
                suggestion,
                &format!("expected one of: {}", variants.join(", ")),
            ),
            MissingUnit { value, units, .. } if value == "1" => format!("write e.g. `1 {}`", units.trim_end_matches('s')),
            MissingUnit { value, units, .. } => format!("write e.g. `{value} {units}`"),
            WrongUnit { expected, .. } => format!("write the value in {expected}"),
            OutOfRange { range, .. } => format!("choose a value in {range}"),
            NotInteger { .. } => "use a whole number (an expression must divide evenly)".into(),
            ListLength { expected, .. } => format!("give exactly {expected} values"),
            EmptyRange { .. } => "write the smaller value first".into(),
            UnknownReference { suggestion, .. } => {
                with_dym(suggestion, "references are full paths like `train.batch`")
            }
            ReferenceToBlock { path } => format!("refer to one of its fields, e.g. `{path}.<field>`"),
            ReferenceCycle { .. } => "give one of the fields a literal value".into(),
            DivisionByZero => "check the divisor".into(),
            BadOperands { .. } => "arithmetic works on numbers and quantities of the same unit".into(),
            UnknownFunction { suggestion, .. } => with_dym(
                suggestion,
                "sources are image_folder, cifar10, cifar100, digits, synthetic",
            ),
            BadArguments { usage, .. } => format!("usage: {usage}"),
            EmbedHeads { embed, .. } => format!(
                "heads must divide embed {embed}; DeiT keeps 64 dims per head (embed 192 → 3 heads)"
            ),
            ImagePatch { .. } => "patches tile the image exactly; change `model.image` or `model.patch`".into(),
            MlpHidden { .. } => "pick a ratio that makes embed × mlp_ratio whole".into(),
            OddBatchMix { batch } => format!("use an even batch, e.g. {}", batch + 1),
            TeacherRequired { .. } => "add `distill { teacher { arch = … checkpoint = \"…\" } }`".into(),
            TeacherClasses { .. } => "the teacher must be trained on the same classes (fine-tune it on this data first)".into(),
            TeacherChannels { .. } => "the teacher sees the student's images: distil a grayscale student from a `convnet` or `deit` teacher trained on the same data".into(),
            ModelClasses { .. } => "remove `model.classes` to take it from the data".into(),
            SourceClasses { .. } => "remove `data.classes` to take it from the source".into(),
            ClassesUnknown => "set `data.classes`, or point the source at an existing dataset".into(),
            WarmupTooLong { .. } => "shorten `schedule.warmup` or lengthen `schedule.length`".into(),
            ChannelStats { channels, found: 3, .. } => format!(
                "give one value per input channel ({channels}); the defaults are ImageNet's RGB statistics"
            ),
            ChannelStats { channels, .. } => format!("give one value per input channel ({channels})"),
            EvalHeadNeedsToken { .. } => "use `distill.eval_head = cls`, or set `model.distilled = true`".into(),
            ResolutionNeedsInterpolation { .. } => "set `finetune.pos_embed = bicubic`".into(),
            EmptyEpoch { repeated: true, .. } => "repeated augmentation keeps ⌊N/256⌋·256 samples per epoch, as the official sampler: set `augment.repeated = 1`, or lower `train.batch`".into(),
            EmptyEpoch { .. } => "lower `train.batch` or use more data".into(),
            VitDistilled { .. } => "use `model.family = deit` for a distilled model".into(),
            ConvnetImage { .. } => "its 2×2 average pool halves the image; use an even `model.image` (resize the data to match)".into(),
            TwoPolicies => "keep one: `delete augment.rand_augment` or `augment.auto_augment = none`".into(),
            InertField { path, .. } => format!("remove `{path}`, or change the setting that makes it unused"),
            InertColorJitter => "timm applies ColorJitter only without RandAugment/AutoAugment; remove it or set it to none".into(),
            FileMissing { .. } => "`deitc run` needs it; paths are relative to the directory deitc runs in".into(),
            NotTrainable { .. } => "`check`, `explain` and `fmt` are unaffected; docs/training.md lists what trains today".into(),
            DistHeadUntrained => "evaluation still averages both heads: set a distill mode, or `distill.eval_head = cls`".into(),
            UnusedTeacher { .. } => "set `distill.mode = hard` or `soft`, or `delete distill.teacher`".into(),
            DataNotFound { .. } => "`deitc run` needs the data here; `check` goes on without reading it".into(),
            FinetuneWithDistill => "the official main.py refuses this combination; deitc allows it".into(),
            MinLrAboveLr { .. } => "lower `schedule.min_lr`".into(),
            RepeatedAugSmall { .. } => "set `augment.repeated = 1` for small datasets".into(),
            Internal { .. } => "this is a bug in deitc; please report it with the recipe".into(),
            ShapeNotCompiled { nearest, .. } => format!("`deitc run`, `eval` and `bench` generate a graph for it the first time (built with cargo, about 1–3 min, then cached; `deitc build` builds it ahead); the nearest compiled-in shapes are {}", nearest.join(", ")),
            DataLoad { .. } => "check the data path and its layout (docs/recipes.md)".into(),
            NonFinite { .. } => "check `optimizer.lr`, `optimizer.clip_grad` and `data.mean`/`data.std`; checkpoints already written are kept".into(),
            Checkpoint { .. } => "checkpoints are written by `deitc run`; pass one of its `.safetensors` files".into(),
            TeacherRecipe { cycle: true, .. } => "a teacher's recipe trains the teacher: it cannot distill from the student".into(),
            TeacherRecipe { path, .. } => format!("run `deitc check {path}` to see what is wrong with it"),
            Teacher { .. } => "a teacher is `arch = regnety_160` with a timm `state_dict` of RegNetY-16GF (safetensors or .pth), or a deitc checkpoint of a compiled shape (`arch = deit` or `convnet`) with the `recipe` that trained it".into(),
            ResumeMismatch { .. } => "run without `--resume` to start a new run, or restore the recipe".into(),
            NothingToResume { .. } => "run without `--resume` to start a new run".into(),
            NoCuda => "build with `cargo build --release --features cuda`, or pass `--device cpu`".into(),
            DeviceUnavailable { .. } => {
                "check the GPU and its driver (`nvidia-smi`), or pass `--device cpu`".into()
            }
            NoCargo { .. } => "install Rust with cargo (https://rustup.rs), or set `DEITC_CARGO` to a cargo binary; compiled-in shapes (`deitc check` names the nearest) need none".into(),
            GraphSource { .. } => "set `DEITC_SOURCE` to a checkout of this deitc version's source".into(),
            GraphBuild { .. } => "the graph's crate is kept under the cache (`deitc cache list`); `deitc cache clean` and retry, or report the error".into(),
            GraphUnsupported { .. } => "every graph deitc builds has a qkv bias: set `model.qkv_bias = true`".into(),
            WeightsUnreadable { .. } => "deitc reads safetensors files (timm's `safetensors.torch.save_file(model.state_dict(), …)`, deitc checkpoints) and PyTorch `.pth` zip files".into(),
            Pth { .. } => format!("convert it once with PyTorch: {PTH_TO_SAFETENSORS}"),
            WeightsDtype { .. } => "save the state dict as float32 (`{k: v.float() for k, v in sd.items()}`)".into(),
            WeightsMissing { plain_into_distilled: true, .. } => "the checkpoint has no distillation token: set `model.distilled = false`, or start from a distilled checkpoint".into(),
            WeightsMissing { .. } => "is this a checkpoint of this architecture? docs/interop.md lists the names deitc expects".into(),
            WeightsShape { key, found, expected, patch, prefix, finetune, head, .. } => shape_help(&ShapeFacts { key, found, expected, patch: *patch, prefix: *prefix, finetune: *finetune, head: *head }),
            WeightsUnexpected { .. } => "is this a checkpoint of this architecture? docs/interop.md lists the names deitc expects".into(),
            DistilledIntoPlain { .. } => "set `model.distilled = true` (e.g. a `deit_*_distilled_*` recipe), or start from a plain checkpoint".into(),
            HeadClasses { .. } => "set `finetune.reset_head = auto` to start the heads afresh for the new classes".into(),
            FromImage { grid, patch, .. } => format!("set `finetune.from_image = {}`, or remove it: the grid is read from the checkpoint", grid * patch),
            ConvnetInterop => "`deitc import` and `export` convert DeiT and ViT models (`model.family = deit` or `vit`)".into(),
            NotACheckpoint { .. } => "`deitc export` takes a checkpoint written by `deitc run` or `deitc import` (`--ema` needs a run with `train.ema`)".into(),
            WriteWeights { .. } | WriteOutput { .. } => {
                "check that the output folder can be created and written".into()
            }
        };
        Some(h)
    }
}

/// How to turn a timm `.pth` into a safetensors file deitc reads.
pub const PTH_TO_SAFETENSORS: &str = "python -c \"import sys, torch, safetensors.torch as st; sd = torch.load(sys.argv[1], map_location='cpu'); sd = sd.get('model', sd); st.save_file({k: v.float().contiguous() for k, v in sd.items()}, sys.argv[2])\" IN.pth OUT.safetensors";

/// At most four names, then how many more.
fn first_few(keys: &[String]) -> String {
    let shown: Vec<String> = keys.iter().take(4).map(|k| format!("`{k}`")).collect();
    match keys.len().saturating_sub(4) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
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
        let want = crate::ir::grid_side(expected[1], prefix).unwrap_or(0);
        return match crate::ir::grid_side(found[1], prefix) {
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

/// `1 head`, `3 heads`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn with_dym(s: &Option<String>, otherwise: &str) -> String {
    match s {
        Some(_) => did_you_mean(s),
        None => otherwise.to_string(),
    }
}
