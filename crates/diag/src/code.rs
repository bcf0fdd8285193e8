//! Every stable diagnostic code deitc reports (`deit::<area>::<name>`, listed in
//! docs/diagnostics.md), with its area and default severity: one enum, so a code is a value
//! the compiler checks and [`Code::ALL`] lists them all.

use std::fmt;

/// Whether a diagnostic stops the command (`Error`) or only informs (`Warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

macro_rules! codes {
    ($( $area:ident { $( $name:ident = $code:literal $sev:ident, )* } )*) => {
        /// The area of a code: its middle part, and the phase that reports it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Area { $( $area, )* }

        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $( $name, )* )* }

        impl Code {
            /// Every code, grouped by area.
            pub const ALL: &'static [Code] = &[ $( $( Code::$name, )* )* ];

            /// The code as written in diagnostics and docs: `deit::io::not_found`.
            pub fn as_str(self) -> &'static str {
                match self { $( $( Code::$name => $code, )* )* }
            }

            /// The area the code belongs to.
            pub fn area(self) -> Area {
                match self { $( $( Code::$name => Area::$area, )* )* }
            }

            /// The severity a diagnostic of this code has unless its reporter says otherwise
            /// (lints are warnings).
            pub fn severity(self) -> Severity {
                match self { $( $( Code::$name => codes!(@sev $sev), )* )* }
            }
        }
    };
    (@sev error) => { Severity::Error };
    (@sev warning) => { Severity::Warning };
}

codes! {
    Cli {
        CliConflict = "deit::cli::conflict" error,
        CliInvalidValue = "deit::cli::invalid_value" error,
        CliMissingArgument = "deit::cli::missing_argument" error,
        CliMissingCommand = "deit::cli::missing_command" error,
        CliMissingValue = "deit::cli::missing_value" error,
        CliNotUtf8 = "deit::cli::not_utf8" error,
        CliUnknownArgument = "deit::cli::unknown_argument" error,
        CliUnknownCommand = "deit::cli::unknown_command" error,
    }
    Io {
        IoBinary = "deit::io::binary" error,
        IoIsDirectory = "deit::io::is_directory" error,
        IoNotFound = "deit::io::not_found" error,
        IoNotRegular = "deit::io::not_regular" error,
        IoNotUtf8 = "deit::io::not_utf8" error,
        IoTooLarge = "deit::io::too_large" error,
        IoUnreadable = "deit::io::unreadable" error,
        IoWrite = "deit::io::write" error,
    }
    Syntax {
        SyntaxBadNumber = "deit::syntax::bad_number" error,
        SyntaxTooComplex = "deit::syntax::too_complex" error,
        SyntaxTooDeep = "deit::syntax::too_deep" error,
        SyntaxUnexpected = "deit::syntax::unexpected" error,
    }
    Extends {
        ExtendsCycle = "deit::extends::cycle" error,
        ExtendsNotFound = "deit::extends::not_found" error,
    }
    Schema {
        SchemaDuplicateField = "deit::schema::duplicate_field" error,
        SchemaMissingField = "deit::schema::missing_field" error,
        SchemaNotABlock = "deit::schema::not_a_block" error,
        SchemaNotAField = "deit::schema::not_a_field" error,
        SchemaNotOptional = "deit::schema::not_optional" error,
        SchemaUnknownBlock = "deit::schema::unknown_block" error,
        SchemaUnknownField = "deit::schema::unknown_field" error,
    }
    Type {
        TypeMismatch = "deit::type::mismatch" error,
        TypeMissingUnit = "deit::type::missing_unit" error,
        TypeUnknownVariant = "deit::type::unknown_variant" error,
        TypeWrongUnit = "deit::type::wrong_unit" error,
    }
    Value {
        ValueEmptyRange = "deit::value::empty_range" error,
        ValueListLength = "deit::value::list_length" error,
        ValueNotInteger = "deit::value::not_integer" error,
        ValueOutOfRange = "deit::value::out_of_range" error,
    }
    Expr {
        ExprBadOperands = "deit::expr::bad_operands" error,
        ExprCycle = "deit::expr::cycle" error,
        ExprDivisionByZero = "deit::expr::division_by_zero" error,
        ExprReferenceToBlock = "deit::expr::reference_to_block" error,
        ExprUnknownReference = "deit::expr::unknown_reference" error,
    }
    Source {
        SourceBadArguments = "deit::source::bad_arguments" error,
        SourceLayout = "deit::source::layout" error,
        SourceUnknownFunction = "deit::source::unknown_function" error,
    }
    Rule {
        RuleChannelStats = "deit::rule::channel_stats" error,
        RuleClassesUnknown = "deit::rule::classes_unknown" error,
        RuleConvnetImage = "deit::rule::convnet_image" error,
        RuleEmbedHeads = "deit::rule::embed_heads" error,
        RuleEmptyEpoch = "deit::rule::empty_epoch" error,
        RuleEvalHead = "deit::rule::eval_head" error,
        RuleImagePatch = "deit::rule::image_patch" error,
        RuleMlpHidden = "deit::rule::mlp_hidden" error,
        RuleModelClasses = "deit::rule::model_classes" error,
        RuleOddBatch = "deit::rule::odd_batch" error,
        RuleResolution = "deit::rule::resolution" error,
        RuleSourceClasses = "deit::rule::source_classes" error,
        RuleTeacherChannels = "deit::rule::teacher_channels" error,
        RuleTeacherClasses = "deit::rule::teacher_classes" error,
        RuleTeacherRecipe = "deit::rule::teacher_recipe" error,
        RuleTeacherRequired = "deit::rule::teacher_required" error,
        RuleTwoPolicies = "deit::rule::two_policies" error,
        RuleVitDistilled = "deit::rule::vit_distilled" error,
        RuleWarmup = "deit::rule::warmup" error,
    }
    Lint {
        LintDataNotFound = "deit::lint::data_not_found" warning,
        LintDistHeadUntrained = "deit::lint::dist_head_untrained" warning,
        LintFileMissing = "deit::lint::file_missing" warning,
        LintFinetuneDistill = "deit::lint::finetune_distill" warning,
        LintInertColorJitter = "deit::lint::inert_color_jitter" warning,
        LintInertField = "deit::lint::inert_field" warning,
        LintMinLr = "deit::lint::min_lr" warning,
        LintNotTrainable = "deit::lint::not_trainable" warning,
        LintPrecisionFallback = "deit::lint::precision_fallback" warning,
        LintRepeatedAugSmall = "deit::lint::repeated_aug_small" warning,
        LintUnusedTeacher = "deit::lint::unused_teacher" warning,
    }
    Stage {
        StageCycle = "deit::stage::cycle" error,
        StageDuplicate = "deit::stage::duplicate" error,
        StageExtends = "deit::stage::extends" error,
        StageMismatch = "deit::stage::mismatch" error,
        StageNotFound = "deit::stage::not_found" error,
        StageNotRun = "deit::stage::not_run" error,
        StageOutput = "deit::stage::output" error,
        StageReserved = "deit::stage::reserved" error,
        StageUnknown = "deit::stage::unknown" error,
    }
    Sweep {
        SweepAmbiguousPoint = "deit::sweep::ambiguous_point" error,
        SweepDuplicateValue = "deit::sweep::duplicate_value" error,
        SweepEmpty = "deit::sweep::empty" error,
        SweepItem = "deit::sweep::item" error,
        SweepNoSuchPoint = "deit::sweep::no_such_point" error,
        SweepNotAList = "deit::sweep::not_a_list" error,
        SweepNotASweep = "deit::sweep::not_a_sweep" error,
        SweepPipeline = "deit::sweep::pipeline" error,
        SweepTooMany = "deit::sweep::too_many" error,
        SweepUsedStage = "deit::sweep::used_stage" error,
        SweepZipLength = "deit::sweep::zip_length" error,
    }
    Run {
        RunCheckpoint = "deit::run::checkpoint" error,
        RunData = "deit::run::data" error,
        RunDeviceUnavailable = "deit::run::device_unavailable" error,
        RunLocked = "deit::run::locked" error,
        RunNoCuda = "deit::run::no_cuda" error,
        RunNonFinite = "deit::run::non_finite" error,
        RunNothingToResume = "deit::run::nothing_to_resume" error,
        RunResumeMismatch = "deit::run::resume_mismatch" error,
        RunShapeNotCompiled = "deit::run::shape_not_compiled" error,
        RunTeacher = "deit::run::teacher" error,
        RunWrite = "deit::run::write" error,
    }
    Graph {
        GraphBuild = "deit::graph::build" error,
        GraphNoCargo = "deit::graph::no_cargo" error,
        GraphSource = "deit::graph::source" error,
        GraphUnsupported = "deit::graph::unsupported" error,
    }
    Interop {
        InteropConvnet = "deit::interop::convnet" error,
        InteropDistilledIntoPlain = "deit::interop::distilled_into_plain" error,
        InteropDtype = "deit::interop::dtype" error,
        InteropFromImage = "deit::interop::from_image" error,
        InteropHeadClasses = "deit::interop::head_classes" error,
        InteropMissingKey = "deit::interop::missing_key" error,
        InteropNonFinite = "deit::interop::non_finite" error,
        InteropNotACheckpoint = "deit::interop::not_a_checkpoint" error,
        InteropPth = "deit::interop::pth" error,
        InteropShape = "deit::interop::shape" error,
        InteropUnexpectedKey = "deit::interop::unexpected_key" error,
        InteropUnreadable = "deit::interop::unreadable" error,
        InteropWrite = "deit::interop::write" error,
    }
    Report {
        ReportMalformed = "deit::report::malformed" error,
        ReportNoMetrics = "deit::report::no_metrics" error,
        ReportNotARun = "deit::report::not_a_run" error,
        ReportNotFound = "deit::report::not_found" error,
        ReportUnknownFormat = "deit::report::unknown_format" error,
    }
    Internal {
        Internal = "deit::internal" error,
    }
}

impl Code {
    /// The code whose text is `s`, if there is one.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl Code {
    /// Whether a diagnostic of this code leaves nothing for the checker's later phases: a
    /// file that cannot be read, a syntax error, a base that cannot be loaded, or a pipeline
    /// used as a base (its stages cannot be merged into one recipe).
    pub fn is_fatal(self) -> bool {
        matches!(self.area(), Area::Io | Area::Syntax | Area::Extends) || self == Code::StageExtends
    }
}

/// A code equals its text: `d.code() == "deit::io::not_found"`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_name_their_area() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            let area = format!("{:?}", c.area()).to_lowercase();
            assert!(
                c.as_str() == "deit::internal"
                    || c.as_str().starts_with(&format!("deit::{area}::")),
                "{c} is not in area {area}"
            );
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn lints_and_only_lints_are_warnings() {
        for c in Code::ALL {
            assert_eq!(
                c.severity() == Severity::Warning,
                c.area() == Area::Lint,
                "{c}"
            );
        }
    }
}
