//! Every kind of diagnostic the language reports, with its stable code, message, label and
//! help: one [`Describe`] `match`, so each kind's wording lives in one arm. (The back end's
//! phases describe their own errors the same way, next to their code.)

use super::{did_you_mean, plural, Code, Describe, Description};

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
    /// `deitc check /tmp/pipe`: a FIFO, a device or a socket (`what`), never opened.
    NotRegular {
        path: String,
        what: String,
    },
    /// A recipe over 1 MiB (its size when known before reading).
    TooLarge {
        path: String,
        bytes: Option<u64>,
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
    /// `image_folder("d")` where `d/cat/` holds no image: what the loader would stop on
    /// (`message` names the path).
    SourceLayout {
        message: String,
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
    /// `train.precision` other than fp32 on the CPU, which trains in fp32.
    PrecisionFallback {
        precision: String,
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
    /// `distill.teacher.recipe` names a recipe that does not check (or names itself).
    TeacherRecipe {
        path: String,
        errors: usize,
        cycle: bool,
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
    /// `--stage name` that the pipeline does not declare (or a recipe with no stages).
    NoSuchStage {
        name: String,
        stages: Vec<String>,
        suggestion: Option<String>,
    },

    // ---- sweeps -------------------------------------------------------------------------
    /// A field in `sweep { … }` (or `--sweep`) whose value is not a list of values.
    SweepNotAList {
        path: String,
    },
    /// A swept field with an empty list.
    SweepEmpty {
        path: String,
    },
    /// Lists in one `zip { … }` of different lengths.
    SweepZipLength {
        path: String,
        len: usize,
        first: String,
        first_len: usize,
    },
    /// Something other than a field or a `zip`/field-path block inside `sweep { … }`.
    SweepItem {
        what: String,
    },
    /// A value listed twice for one swept field.
    SweepDuplicateValue {
        path: String,
        value: String,
    },
    /// More points than a sweep may have.
    SweepTooMany {
        points: u128,
        max: usize,
    },
    /// A sweep at a pipeline's top level, or `--sweep` without a stage in a pipeline.
    SweepPipeline {
        stages: Vec<String>,
        cli: bool,
    },
    /// A stage with a sweep whose output another stage uses.
    SweepUsedStage {
        stage: String,
        points: usize,
    },
    /// `--point` naming no point of the sweep.
    NoSuchPoint {
        wanted: String,
        message: String,
        points: Vec<String>,
        suggestion: Option<String>,
    },
    /// `--point` matching several points where one recipe is needed.
    AmbiguousPoint {
        wanted: String,
        matches: Vec<String>,
    },
    /// `--point` on a recipe without a sweep.
    NotASweep {
        wanted: String,
    },

    // ---- bugs ---------------------------------------------------------------------------
    /// deitc itself is inconsistent (a bug to report).
    Internal {
        message: String,
    },
}

impl Describe for ErrorKind {
    /// The code (listed in docs/diagnostics.md), the one-line headline, the text under the
    /// primary span and the help line, of each kind together.
    fn describe(&self) -> Description {
        use ErrorKind::*;
        match self {
            // ---- reading files ----------------------------------------------------------
            FileNotFound { path } => Description::new(Code::IoNotFound, format!("recipe `{path}` not found"))
                .label("read here")
                .help("check the path; recipes ship under `recipes/`"),
            BaseNotFound { path } => Description::new(Code::ExtendsNotFound, format!("base recipe `{path}` not found"))
                .label("read here")
                .help("`extends` paths are relative to the folder of the recipe that extends"),
            IsDirectory { path } => Description::new(Code::IoIsDirectory, format!("`{path}` is a directory, not a recipe file"))
                .label("read here")
                .help("pass a `.deit` file, e.g. `recipes/deit_tiny_patch16_224.deit`"),
            NotRegular { path, what } => Description::new(Code::IoNotRegular, format!("`{path}` is {what}, not a recipe file"))
                .label("read here")
                .help("deitc reads recipes from regular files only (a pipe or a device is never opened); write the text to a `.deit` file first"),
            TooLarge { path, bytes: Some(bytes) } => Description::new(Code::IoTooLarge, format!("`{path}` is {bytes} bytes; recipes are limited to 1 MiB"))
                .label("read here")
                .help("a recipe is a short text file; is this the right path?"),
            TooLarge { path, bytes: None } => Description::new(Code::IoTooLarge, format!("`{path}` holds more than 1 MiB; recipes are limited to 1 MiB"))
                .label("read here")
                .help("a recipe is a short text file; is this the right path?"),
            Binary { path } => Description::new(Code::IoBinary, format!("`{path}` is a binary file, not a recipe"))
                .label("read here")
                .help("recipes are UTF-8 text files"),
            NotUtf8 { path, offset } => Description::new(Code::IoNotUtf8, format!("`{path}` is not valid UTF-8 (first bad byte at offset {offset})"))
                .label("read here")
                .help("recipes are UTF-8 text files"),
            Unreadable { path, message } => Description::new(Code::IoUnreadable, format!("cannot read `{path}`: {message}"))
                .label("read here")
                .help("check that the path names a readable file"),

            // ---- syntax -----------------------------------------------------------------
            Syntax { expected, found, cli } => Description::new(Code::SyntaxUnexpected, format!("expected {expected}, found {found}"))
                .label(format!("expected {expected}"))
                .help(if *cli {
                    "`--set` takes `path=value` (`--set optimizer.lr=1e-3`), `--sweep` takes `path=value,value,…` (`--sweep train.seed=0,1,2`)"
                } else {
                    "see docs/language.md for the syntax of recipes"
                }),
            TooDeep { max } => Description::new(Code::SyntaxTooDeep, format!("nesting deeper than {max} levels"))
                .label("nesting limit reached here")
                .help("flatten the expression or the blocks"),
            TooComplex { max } => Description::new(Code::SyntaxTooComplex, format!("expression has more than {max} operators"))
                .label("in this expression")
                .help("split the expression; recipes hold short formulas"),
            BadNumber { text } => Description::new(Code::SyntaxBadNumber, format!("`{text}` is not a representable number"))
                .label("too large")
                .help(if text.contains(['.', 'e', 'E', 'i']) {
                    "numbers must be finite (below about 1.8e308)"
                } else {
                    "whole numbers must fit in 64 bits"
                }),

            // ---- extends ----------------------------------------------------------------
            ExtendsCycle { chain } => Description::new(Code::ExtendsCycle, format!("`extends` cycle: {}", chain.join(" → ")))
                .label("this closes the cycle")
                .help("remove one of the `extends` lines in the cycle"),

            // ---- structure --------------------------------------------------------------
            UnknownBlock { name, suggestion } => Description::new(Code::SchemaUnknownBlock, format!("unknown block `{name}`"))
                .label("unknown block")
                .help(with_dym(
                    suggestion,
                    "blocks are model, data, augment, optimizer, schedule, distill, train, finetune",
                )),
            UnknownField { block, name, suggestion } => Description::new(Code::SchemaUnknownField, format!("`{block}` has no field `{name}`"))
                .label(format!("not a field of `{block}`"))
                .help(with_dym(suggestion, &format!("see the fields of `{block}` in docs/language.md"))),
            NotABlock { path } => Description::new(Code::SchemaNotABlock, format!("`{path}` is a field, not a block"))
                .label("written as a block")
                .help(format!("write `{path} = <value>`")),
            NotAField { path } => Description::new(Code::SchemaNotAField, format!("`{path}` is a block, not a field"))
                .label("given a value")
                .help(format!("write `{path} {{ … }}`, or `delete {path}` to remove it")),
            MissingField { path, example } => Description::new(Code::SchemaMissingField, format!("required field `{path}` is not set"))
                .label("in this recipe")
                .help(format!("add `{path} = {example}`")),
            DuplicateField { path } => Description::new(Code::SchemaDuplicateField, format!("`{path}` is set twice in the same file"))
                .label("set again here")
                .help("remove one of the two; the later one would win"),
            NotOptional { path } => Description::new(Code::SchemaNotOptional, format!("`{path}` cannot be removed"))
                .label("removed here")
                .help(format!("set its fields instead; in a recipe, `delete {path}` reverts it to the defaults")),

            // ---- types and values -------------------------------------------------------
            TypeMismatch { path, expected, found } => Description::new(Code::TypeMismatch, format!("`{path}` expects {expected}, found {found}"))
                .label(format!("this is {found}"))
                .help(format!("write {expected}")),
            UnknownVariant { path, value, variants, suggestion } => Description::new(Code::TypeUnknownVariant, format!("`{value}` is not a valid `{path}`"))
                .label("unknown value")
                .help(with_dym(suggestion, &format!("expected one of: {}", variants.join(", ")))),
            MissingUnit { path, value, units } => Description::new(Code::TypeMissingUnit, format!("`{path} = {value}` needs a unit"))
                .label("no unit")
                .help(if value == "1" {
                    format!("write e.g. `1 {}`", units.trim_end_matches('s'))
                } else {
                    format!("write e.g. `{value} {units}`")
                }),
            WrongUnit { path, unit, expected } => Description::new(Code::TypeWrongUnit, format!("`{path}` cannot be given in {unit}; it expects {expected}"))
                .label(format!("in {unit}"))
                .help(format!("write the value in {expected}")),
            OutOfRange { path, value, range } => Description::new(Code::ValueOutOfRange, format!("`{path}` = {value} is out of range {range}"))
                .label(value.clone())
                .help(format!("choose a value in {range}")),
            NotInteger { path, value } => Description::new(Code::ValueNotInteger, format!("`{path}` must be a whole number, got {value}"))
                .label(format!("evaluates to {value}"))
                .help("use a whole number (an expression must divide evenly)"),
            ListLength { path, expected, found } => Description::new(Code::ValueListLength, format!("`{path}` expects {}, found {found}", plural(*expected, "value")))
                .label(plural(*found, "value"))
                .help(format!("give exactly {expected} values")),
            EmptyRange { path, lo, hi } => Description::new(Code::ValueEmptyRange, format!("`{path}` range {lo}..{hi} is empty"))
                .label("low end above high end")
                .help("write the smaller value first"),

            // ---- expressions ------------------------------------------------------------
            UnknownReference { path, suggestion } => Description::new(Code::ExprUnknownReference, format!("`{path}` does not name a field"))
                .label("no such field")
                .help(with_dym(suggestion, "references are full paths like `train.batch`")),
            ReferenceToBlock { path } => Description::new(Code::ExprReferenceToBlock, format!("`{path}` is a block; only fields can be referenced"))
                .label("a block")
                .help(format!("refer to one of its fields, e.g. `{path}.<field>`")),
            ReferenceCycle { chain } => Description::new(Code::ExprCycle, format!("fields refer to each other: {}", chain.join(" → ")))
                .label("this reference closes the cycle")
                .help("give one of the fields a literal value"),
            DivisionByZero => Description::new(Code::ExprDivisionByZero, "division by zero")
                .label("divisor is zero")
                .help("check the divisor"),
            BadOperands { op, left, right } => Description::new(Code::ExprBadOperands, format!("cannot apply `{op}` to {left} and {right}"))
                .help("arithmetic works on numbers and quantities of the same unit"),
            UnknownFunction { name, suggestion } => Description::new(Code::SourceUnknownFunction, format!("unknown data source `{name}`"))
                .label("unknown source")
                .help(with_dym(
                    suggestion,
                    "sources are image_folder, cifar10, cifar100, fashion_mnist, mnist, digits, synthetic",
                )),
            BadArguments { function, problem, usage } => Description::new(Code::SourceBadArguments, format!("`{function}(…)`: {problem}"))
                .label("in this call")
                .help(format!("usage: {usage}")),
            SourceLayout { message } => Description::new(Code::SourceLayout, format!("the data source cannot be loaded: {message}"))
                .label("this source")
                .help("an image folder is `<root>/<class>/<image>.png|jpg|jpeg`, with at least one image in every class folder; CIFAR files are the binary release's, whole records; MNIST and Fashion-MNIST are the IDX files as released, plain or .gz (docs/language.md)"),

            // ---- cross-field rules ------------------------------------------------------
            EmbedHeads { embed, heads } => Description::new(Code::RuleEmbedHeads, format!("embed dim {embed} is not divisible by {}", plural(*heads, "head")))
                .label(plural(*heads, "head"))
                .help(format!(
                    "heads must divide embed {embed}; DeiT keeps 64 dims per head (embed 192 → 3 heads)"
                )),
            ImagePatch { image, patch } => Description::new(Code::RuleImagePatch, format!("image size {image} is not divisible by patch size {patch}"))
                .label(format!("patch {patch}"))
                .help("patches tile the image exactly; change `model.image` or `model.patch`"),
            MlpHidden { embed, ratio } => Description::new(Code::RuleMlpHidden, format!("mlp_ratio {ratio} × embed {embed} is not a whole number of units"))
                .label("this ratio")
                .help("pick a ratio that makes embed × mlp_ratio whole"),
            OddBatchMix { batch } => Description::new(Code::RuleOddBatch, format!("batch {batch} is odd, but mixup/cutmix pair each image with the reversed batch"))
                .label("odd batch")
                .help(format!("use an even batch, e.g. {}", batch + 1)),
            TeacherRequired { mode } => Description::new(Code::RuleTeacherRequired, format!("`distill.mode = {mode}` needs a teacher"))
                .label("distillation enabled here")
                .help("add `distill { teacher { arch = … checkpoint = \"…\" } }`"),
            TeacherClasses { teacher, data } => Description::new(Code::RuleTeacherClasses, format!("teacher predicts {teacher} classes but the data has {data}"))
                .label(format!("{teacher} classes"))
                .help("the teacher must be trained on the same classes (fine-tune it on this data first)"),
            TeacherChannels { channels } => {
                let s = if *channels == 1 { "" } else { "s" };
                Description::new(Code::RuleTeacherChannels, format!("`regnety_160` takes RGB images, but the model has {channels} channel{s}"))
                    .label("an RGB teacher")
                    .help("the teacher sees the student's images: distil a grayscale student from a `convnet` or `deit` teacher trained on the same data")
            }
            ModelClasses { model, data } => Description::new(Code::RuleModelClasses, format!("model has {model} classes but the data has {data}"))
                .label(format!("{model} classes"))
                .help("remove `model.classes` to take it from the data"),
            SourceClasses { source, data } => Description::new(Code::RuleSourceClasses, format!("the data source has {source} classes but `data.classes` is {data}"))
                .label("declared here")
                .help("remove `data.classes` to take it from the source"),
            ClassesUnknown => Description::new(Code::RuleClassesUnknown, "the number of classes is unknown")
                .label("classes come from this source")
                .help("set `data.classes`, or point the source at an existing dataset"),
            WarmupTooLong { warmup, length } => Description::new(Code::RuleWarmup, format!("warmup ({warmup}) is not shorter than the schedule ({length})"))
                .label("warmup")
                .help("shorten `schedule.warmup` or lengthen `schedule.length`"),
            ChannelStats { channels, field, found } => Description::new(Code::RuleChannelStats, format!("`data.{field}` has {} for {}", plural(*found, "value"), plural(*channels, "channel")))
                .label(plural(*found, "value"))
                .help(if *found == 3 {
                    format!("give one value per input channel ({channels}); the defaults are ImageNet's RGB statistics")
                } else {
                    format!("give one value per input channel ({channels})")
                }),
            EvalHeadNeedsToken { head } => Description::new(Code::RuleEvalHead, format!("`distill.eval_head = {head}` needs a distillation token"))
                .label("this head")
                .help("use `distill.eval_head = cls`, or set `model.distilled = true`"),
            ResolutionNeedsInterpolation { from, to } => Description::new(Code::RuleResolution, format!("fine-tuning from {from} px to {to} px needs position-embedding interpolation"))
                .label("interpolation disabled")
                .help("set `finetune.pos_embed = bicubic`"),
            EmptyEpoch { samples, batch, repeated } => Description::new(Code::RuleEmptyEpoch, format!("an epoch of {samples} samples holds no full batch of {batch}"))
                .label("this batch")
                .help(if *repeated {
                    "repeated augmentation keeps ⌊N/256⌋·256 samples per epoch, as the official sampler: set `augment.repeated = 1`, or lower `train.batch`"
                } else {
                    "lower `train.batch` or use more data"
                }),
            TwoPolicies => Description::new(Code::RuleTwoPolicies, "RandAugment and AutoAugment are both enabled")
                .label("RandAugment")
                .help("keep one: `delete augment.rand_augment` or `augment.auto_augment = none`"),
            VitDistilled { family } => Description::new(Code::RuleVitDistilled, format!("a `{family}` has no distillation token"))
                .label("distillation token")
                .help("use `model.family = deit` for a distilled model"),
            ConvnetImage { image } => Description::new(Code::RuleConvnetImage, format!("a convnet needs an even image side, not {image}"))
                .label("odd")
                .help("its 2×2 average pool halves the image; use an even `model.image` (resize the data to match)"),

            // ---- warnings ---------------------------------------------------------------
            InertColorJitter => Description::new(Code::LintInertColorJitter, "`augment.color_jitter` has no effect")
                .label("ignored")
                .help("timm applies ColorJitter only without RandAugment/AutoAugment; remove it or set it to none"),
            InertField { path, reason } => Description::new(Code::LintInertField, format!("`{path}` has no effect {reason}"))
                .label("never read")
                .help(format!("remove `{path}`, or change the setting that makes it unused")),
            DistHeadUntrained => Description::new(Code::LintDistHeadUntrained, "the distillation head gets no training signal without distillation")
                .label("distillation token")
                .help("evaluation still averages both heads: set a distill mode, or `distill.eval_head = cls`"),
            FileMissing { field, path } => Description::new(Code::LintFileMissing, format!("`{field}` names `{path}`, which does not exist here"))
                .label("not found")
                .help("`deitc run` needs it; paths are relative to the directory deitc runs in"),
            NotTrainable { features } => Description::new(Code::LintNotTrainable, format!("`deitc run` cannot train this recipe yet: {}", features.join(", ")))
                .label("not implemented by the trainer yet")
                .help("`check`, `explain` and `fmt` are unaffected; docs/training.md lists what trains today"),
            PrecisionFallback { precision } => Description::new(Code::LintPrecisionFallback, format!("`train.precision = {precision}` needs a CUDA device; this CPU run trains in fp32"))
                .label("fp32 on the CPU")
                .help("set `train.precision = fp32`, or run on CUDA (`train.device = cuda`)"),
            UnusedTeacher { mode } => Description::new(Code::LintUnusedTeacher, format!("the teacher is unused with `distill.mode = {mode}`"))
                .label("never used")
                .help("set `distill.mode = hard` or `soft`, or `delete distill.teacher`"),
            DataNotFound { path } => Description::new(Code::LintDataNotFound, format!("data path `{path}` does not exist here"))
                .label("not found")
                .help("`deitc run` needs the data here; `check` goes on without reading it"),
            FinetuneWithDistill => Description::new(Code::LintFinetuneDistill, "fine-tuning with distillation differs from the official code")
                .label("fine-tuning")
                .help("the official main.py refuses this combination; deitc allows it"),
            MinLrAboveLr { min_lr, lr } => Description::new(
                Code::LintMinLr,
                format!(
                    "min_lr {} is above the peak lr {}",
                    crate::check::show_f64(*min_lr),
                    crate::check::show_f64(*lr)
                ),
            )
            .label("min lr")
            .help("lower `schedule.min_lr`"),
            RepeatedAugSmall { samples } => Description::new(Code::LintRepeatedAugSmall, format!("repeated augmentation rounds each epoch down to a multiple of 256 samples ({samples} here)"))
                .label("repeated augmentation")
                .help("set `augment.repeated = 1` for small datasets"),

            // ---- running ----------------------------------------------------------------
            ShapeNotCompiled { shape, nearest } => Description::new(Code::RunShapeNotCompiled, format!("no compiled-in graph for the shape {shape}"))
                .label("this model")
                .help(format!("`deitc run`, `eval` and `bench` generate a graph for it the first time (built with cargo, about 1–3 min, then cached; `deitc build` builds it ahead); the nearest compiled-in shapes are {}", nearest.join(", "))),
            TeacherRecipe { path, cycle: true, .. } => Description::new(Code::RuleTeacherRecipe, format!("the teacher's recipe `{path}` is a recipe this one is already the teacher of"))
                .label("this recipe")
                .help("a teacher's recipe trains the teacher: it cannot distill from the student"),
            TeacherRecipe { path, errors, .. } => Description::new(Code::RuleTeacherRecipe, format!("the teacher's recipe `{path}` does not check ({})", plural(*errors, "error")))
                .label("this recipe")
                .help(format!("run `deitc check {path}` to see what is wrong with it")),

            // ---- pipelines --------------------------------------------------------------
            UnknownStage { name, stages, .. } if stages.is_empty() => Description::new(Code::StageUnknown, format!("`stage.{name}` names a stage, but this recipe declares no stages"))
                .label("no such stage")
                .help("stage outputs exist inside a pipeline (`stage name { … }` blocks); outside one, give the checkpoint's path"),
            UnknownStage { name, stages, suggestion } => Description::new(Code::StageUnknown, format!("no stage named `{name}`"))
                .label("no such stage")
                .help(with_dym(suggestion, &format!("the stages are {}", stage_list(stages)))),
            StageOutput { stage, output, suggestion } => Description::new(
                Code::StageOutput,
                if output.is_empty() {
                    format!("`stage.{stage}` needs the checkpoint it means: `best` or `last`")
                } else {
                    format!("stage `{stage}` has no output `{output}`")
                },
            )
            .label("not `best` or `last`")
            .help(with_dym(
                suggestion,
                "`best` is the checkpoint with the highest val top-1, `last` the final one",
            )),
            DuplicateStage { name } => Description::new(Code::StageDuplicate, format!("stage `{name}` is declared twice"))
                .label("declared again here")
                .help("rename one of the stages"),
            ReservedStage { name } => Description::new(Code::StageReserved, format!("a stage cannot be named `{name}`"))
                .label("a block's name")
                .help("`--set <stage>.<field>=…` addresses one stage, so stages cannot share a block's name (model, data, augment, optimizer, schedule, distill, train, finetune) or be named `stage`"),
            PipelineExtends { base: None } => Description::new(Code::StageExtends, "a pipeline cannot `extends` a base")
                .label("extended here")
                .help("put `extends` inside each stage; top-level fields of a pipeline apply to every stage"),
            PipelineExtends { base: Some(b) } => Description::new(Code::StageExtends, format!("`{b}` is a pipeline (it declares stages) and cannot be extended"))
                .label("extended here")
                .help("extend one of its stages' recipes instead, or add a stage to it"),
            StageCycle { chain } => Description::new(Code::StageCycle, format!("stage cycle: {}", chain.join(" → ")))
                .label("this closes the cycle")
                .help("a stage can use only the outputs of stages that do not depend on it"),
            StageMismatch { message, help } => Description::new(Code::StageMismatch, message.clone())
                .label("used here")
                .help(help.clone()),
            NoSuchStage { name, stages, .. } if stages.is_empty() => Description::new(Code::StageNotFound, format!("`--stage {name}`: this recipe declares no stages"))
                .help("`--stage` picks a stage of a pipeline; drop it for an ordinary recipe"),
            NoSuchStage { name, stages, suggestion } => Description::new(Code::StageNotFound, format!("`--stage {name}`: no stage of that name"))
                .help(with_dym(suggestion, &format!("the stages are {}", stage_list(stages)))),

            // ---- sweeps -----------------------------------------------------------------
            SweepNotAList { path } => Description::new(Code::SweepNotAList, format!("swept field `{path}` needs a list of values"))
                .label("not a list")
                .help(format!("a sweep tries each value in turn: `{path} = [a, b]`; a list-valued field takes a list of lists")),
            SweepEmpty { path } => Description::new(Code::SweepEmpty, format!("swept field `{path}` has no values"))
                .label("empty list")
                .help("list at least one value, or remove the field from the sweep"),
            SweepZipLength { path, len, first, first_len } => Description::new(Code::SweepZipLength, format!("`zip` pairs lists element by element, but `{path}` has {} and `{first}` {}", plural(*len, "value"), plural(*first_len, "value")))
                .label(plural(*len, "value"))
                .help("give every list in one `zip { … }` the same length, or move a field out of the `zip` to sweep it across the others"),
            SweepItem { what } => Description::new(Code::SweepItem, format!("{what} cannot go in a `sweep`"))
                .label("not a swept field")
                .help("a sweep holds fields with lists (`optimizer.lr = [1e-3, 5e-4]`), blocks of them (`optimizer { lr = […] }`) and `zip { … }` groups"),
            SweepDuplicateValue { path, value } => Description::new(Code::SweepDuplicateValue, format!("`{path}` lists the value `{value}` twice"))
                .label("listed again here")
                .help("each value gives one point: remove the repeat"),
            SweepTooMany { points, max } => Description::new(Code::SweepTooMany, format!("this sweep has {points} points; at most {max} are allowed"))
                .label("the sweep")
                .help("a sweep is the product of its lists: shorten a list, or pair lists with `zip { … }`"),
            SweepPipeline { stages, cli: false } => Description::new(Code::SweepPipeline, "a pipeline's sweep goes inside a stage")
                .label("at the pipeline's top level")
                .help(format!("move the `sweep {{ … }}` into the stage it varies (the stages are {})", stage_list(stages))),
            SweepPipeline { stages, cli: true } => Description::new(Code::SweepPipeline, "`--sweep` on a pipeline must name its stage")
                .label("no stage named")
                .help(format!("write `--sweep <stage>.<path>=…` (the stages are {})", stage_list(stages))),
            SweepUsedStage { stage, points } => Description::new(Code::SweepUsedStage, format!("stage `{stage}` is a sweep of {points} points, so its output is not one checkpoint"))
                .label("used here")
                .help(format!("sweep the stage that uses it instead, or pin one point of `{stage}` by removing its sweep")),
            NoSuchPoint { wanted, message, suggestion, .. } => Description::new(Code::SweepNoSuchPoint, format!("`--point {wanted}`: {message}"))
                .help(with_dym(suggestion, "`deitc explain` lists the sweep's points; `--point` takes `key=value` pairs with the keys of the point names")),
            AmbiguousPoint { wanted, matches } if wanted.is_empty() => Description::new(Code::SweepAmbiguousPoint, format!("this recipe sweeps {} points, and this command acts on one", matches.len()))
                .help(format!("pick one with `--point`, e.g. `--point {}`", matches.first().map_or("key=value", String::as_str))),
            AmbiguousPoint { wanted, matches } => Description::new(Code::SweepAmbiguousPoint, format!("`--point {wanted}` matches {} points, and this command acts on one", matches.len()))
                .help(format!("name more values (it matches {})", first_names(matches))),
            NotASweep { wanted } => Description::new(Code::SweepNotASweep, format!("`--point {wanted}`: this recipe has no sweep"))
                .help("`--point` picks a point of a `sweep { … }` (or of `--sweep`); drop it for an ordinary recipe"),

            // ---- bugs -------------------------------------------------------------------
            Internal { message } => Description::new(Code::Internal, format!("internal error: {message}"))
                .help("this is a bug in deitc; please report it with the recipe"),
        }
    }
}

/// `` did you mean `x`?`` when there is a suggestion, else `otherwise`.
fn with_dym(s: &Option<String>, otherwise: &str) -> String {
    match s {
        Some(_) => did_you_mean(s),
        None => otherwise.to_string(),
    }
}

/// Up to four names in backticks, and how many more.
fn first_names(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(4).map(|n| format!("`{n}`")).collect();
    match names.len().saturating_sub(4) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// `` `a`, `b`, `c` ``: the names of a pipeline's stages.
fn stage_list(stages: &[String]) -> String {
    stages
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Severity;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn kinds_keep_their_codes() {
        use ErrorKind::*;
        let cases = [
            (FileNotFound { path: s("x") }, Code::IoNotFound),
            (BaseNotFound { path: s("x") }, Code::ExtendsNotFound),
            (IsDirectory { path: s("x") }, Code::IoIsDirectory),
            (
                TooLarge {
                    path: s("x"),
                    bytes: Some(2),
                },
                Code::IoTooLarge,
            ),
            (
                NotRegular {
                    path: s("x"),
                    what: s("a FIFO (named pipe)"),
                },
                Code::IoNotRegular,
            ),
            (Binary { path: s("x") }, Code::IoBinary),
            (
                NotUtf8 {
                    path: s("x"),
                    offset: 3,
                },
                Code::IoNotUtf8,
            ),
            (
                Unreadable {
                    path: s("x"),
                    message: s("m"),
                },
                Code::IoUnreadable,
            ),
            (
                Syntax {
                    expected: s("a"),
                    found: s("b"),
                    cli: false,
                },
                Code::SyntaxUnexpected,
            ),
            (TooDeep { max: 64 }, Code::SyntaxTooDeep),
            (TooComplex { max: 64 }, Code::SyntaxTooComplex),
            (BadNumber { text: s("1e999") }, Code::SyntaxBadNumber),
            (
                ExtendsCycle {
                    chain: vec![s("a"), s("b")],
                },
                Code::ExtendsCycle,
            ),
            (
                UnknownBlock {
                    name: s("modle"),
                    suggestion: None,
                },
                Code::SchemaUnknownBlock,
            ),
            (
                UnknownField {
                    block: s("model"),
                    name: s("embd"),
                    suggestion: None,
                },
                Code::SchemaUnknownField,
            ),
            (NotABlock { path: s("a") }, Code::SchemaNotABlock),
            (NotAField { path: s("a") }, Code::SchemaNotAField),
            (
                MissingField {
                    path: s("a"),
                    example: s("1"),
                },
                Code::SchemaMissingField,
            ),
            (DuplicateField { path: s("a") }, Code::SchemaDuplicateField),
            (NotOptional { path: s("a") }, Code::SchemaNotOptional),
            (
                TypeMismatch {
                    path: s("a"),
                    expected: s("b"),
                    found: s("c"),
                },
                Code::TypeMismatch,
            ),
            (
                MissingUnit {
                    path: s("a"),
                    value: s("1"),
                    units: s("epochs"),
                },
                Code::TypeMissingUnit,
            ),
            (
                OutOfRange {
                    path: s("a"),
                    value: s("2"),
                    range: s("0..1"),
                },
                Code::ValueOutOfRange,
            ),
            (
                ListLength {
                    path: s("a"),
                    expected: 2,
                    found: 1,
                },
                Code::ValueListLength,
            ),
            (ReferenceCycle { chain: vec![] }, Code::ExprCycle),
            (DivisionByZero, Code::ExprDivisionByZero),
            (
                UnknownFunction {
                    name: s("f"),
                    suggestion: None,
                },
                Code::SourceUnknownFunction,
            ),
            (
                SourceLayout {
                    message: s("class folder `d/a` has no .png/.jpg/.jpeg images"),
                },
                Code::SourceLayout,
            ),
            (
                EmbedHeads {
                    embed: 192,
                    heads: 5,
                },
                Code::RuleEmbedHeads,
            ),
            (OddBatchMix { batch: 3 }, Code::RuleOddBatch),
            (ClassesUnknown, Code::RuleClassesUnknown),
            (
                WarmupTooLong {
                    warmup: s("5"),
                    length: s("3"),
                },
                Code::RuleWarmup,
            ),
            (TwoPolicies, Code::RuleTwoPolicies),
            (ConvnetImage { image: 33 }, Code::RuleConvnetImage),
            (InertColorJitter, Code::LintInertColorJitter),
            (DistHeadUntrained, Code::LintDistHeadUntrained),
            (FinetuneWithDistill, Code::LintFinetuneDistill),
            (
                MinLrAboveLr {
                    min_lr: 1e-3,
                    lr: 1e-4,
                },
                Code::LintMinLr,
            ),
            (
                RepeatedAugSmall { samples: 100 },
                Code::LintRepeatedAugSmall,
            ),
            (
                PrecisionFallback {
                    precision: s("bf16"),
                },
                Code::LintPrecisionFallback,
            ),
            (
                ShapeNotCompiled {
                    shape: s("s"),
                    nearest: vec![],
                },
                Code::RunShapeNotCompiled,
            ),
            (
                TeacherRecipe {
                    path: s("t"),
                    errors: 1,
                    cycle: true,
                },
                Code::RuleTeacherRecipe,
            ),
            (
                TeacherRecipe {
                    path: s("t"),
                    errors: 1,
                    cycle: false,
                },
                Code::RuleTeacherRecipe,
            ),
            (
                UnknownStage {
                    name: s("a"),
                    stages: vec![],
                    suggestion: None,
                },
                Code::StageUnknown,
            ),
            (
                StageOutput {
                    stage: s("a"),
                    output: s("x"),
                    suggestion: None,
                },
                Code::StageOutput,
            ),
            (DuplicateStage { name: s("a") }, Code::StageDuplicate),
            (ReservedStage { name: s("model") }, Code::StageReserved),
            (PipelineExtends { base: None }, Code::StageExtends),
            (StageCycle { chain: vec![] }, Code::StageCycle),
            (
                StageMismatch {
                    message: s("m"),
                    help: s("h"),
                },
                Code::StageMismatch,
            ),
            (
                NoSuchStage {
                    name: s("a"),
                    stages: vec![],
                    suggestion: None,
                },
                Code::StageNotFound,
            ),
            (SweepNotAList { path: s("a") }, Code::SweepNotAList),
            (SweepEmpty { path: s("a") }, Code::SweepEmpty),
            (
                SweepZipLength {
                    path: s("a"),
                    len: 1,
                    first: s("b"),
                    first_len: 2,
                },
                Code::SweepZipLength,
            ),
            (SweepItem { what: s("x") }, Code::SweepItem),
            (
                SweepDuplicateValue {
                    path: s("a"),
                    value: s("1"),
                },
                Code::SweepDuplicateValue,
            ),
            (SweepTooMany { points: 2, max: 1 }, Code::SweepTooMany),
            (
                SweepPipeline {
                    stages: vec![],
                    cli: true,
                },
                Code::SweepPipeline,
            ),
            (
                SweepUsedStage {
                    stage: s("a"),
                    points: 2,
                },
                Code::SweepUsedStage,
            ),
            (
                NoSuchPoint {
                    wanted: s("a=1"),
                    message: s("m"),
                    points: vec![],
                    suggestion: None,
                },
                Code::SweepNoSuchPoint,
            ),
            (
                AmbiguousPoint {
                    wanted: s("a=1"),
                    matches: vec![],
                },
                Code::SweepAmbiguousPoint,
            ),
            (NotASweep { wanted: s("a=1") }, Code::SweepNotASweep),
            (Internal { message: s("m") }, Code::Internal),
        ];
        for (kind, code) in cases {
            assert_eq!(kind.code(), code, "{kind:?}");
            assert_eq!(kind.describe().code, code, "{kind:?}");
        }
    }

    #[test]
    fn wording_is_unchanged() {
        let d = ErrorKind::FileNotFound { path: s("x") }.describe();
        assert_eq!(d.message, "recipe `x` not found");
        assert_eq!(d.label, "read here");
        assert_eq!(
            d.help.as_deref(),
            Some("check the path; recipes ship under `recipes/`")
        );

        let d = ErrorKind::EmbedHeads {
            embed: 192,
            heads: 5,
        }
        .describe();
        assert_eq!(d.message, "embed dim 192 is not divisible by 5 heads");
        assert_eq!(d.label, "5 heads");

        let d = ErrorKind::MissingUnit {
            path: s("schedule.length"),
            value: s("1"),
            units: s("epochs"),
        }
        .describe();
        assert_eq!(d.help.as_deref(), Some("write e.g. `1 epoch`"));

        let d = ErrorKind::BadOperands {
            op: s("*"),
            left: s("a string"),
            right: s("a number"),
        }
        .describe();
        assert_eq!(d.label, "here");

        let stages = vec![s("teacher"), s("student")];
        let d = ErrorKind::NoSuchStage {
            name: s("techer"),
            stages: stages.clone(),
            suggestion: None,
        }
        .describe();
        assert_eq!(d.message, "`--stage techer`: no stage of that name");
        assert_eq!(
            d.help.as_deref(),
            Some("the stages are `teacher`, `student`")
        );
        let d = ErrorKind::NoSuchStage {
            name: s("techer"),
            stages,
            suggestion: Some(s("teacher")),
        }
        .describe();
        assert_eq!(d.help.as_deref(), Some("did you mean `teacher`?"));
        let d = ErrorKind::NoSuchStage {
            name: s("x"),
            stages: vec![],
            suggestion: Some(s("y")),
        }
        .describe();
        assert_eq!(d.message, "`--stage x`: this recipe declares no stages");
        assert_eq!(
            d.help.as_deref(),
            Some("`--stage` picks a stage of a pipeline; drop it for an ordinary recipe")
        );

        let d = ErrorKind::TeacherRecipe {
            path: s("t.deit"),
            errors: 2,
            cycle: false,
        }
        .describe();
        assert_eq!(
            d.message,
            "the teacher's recipe `t.deit` does not check (2 errors)"
        );
        assert_eq!(
            d.help.as_deref(),
            Some("run `deitc check t.deit` to see what is wrong with it")
        );
    }

    #[test]
    fn lints_are_warnings() {
        assert_eq!(ErrorKind::TwoPolicies.code().severity(), Severity::Error);
        assert_eq!(
            ErrorKind::InertColorJitter.code().severity(),
            Severity::Warning
        );
        assert_eq!(
            ErrorKind::RepeatedAugSmall { samples: 3 }.code().severity(),
            Severity::Warning
        );
    }
}
