//! What every error enum says about each of its values.

use crate::Code;

/// Everything a diagnostic says besides where: its code, the one-line headline, the short
/// text under the primary span, and a help line that fits.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub code: Code,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

impl Description {
    /// A description with `code` and `message`, labelled "here", with no help.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Description {
            code,
            message: message.into(),
            label: "here".into(),
            help: None,
        }
    }

    /// The same, with `label` under the primary span.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The same, with a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// An error enum of one phase: each value describes itself in one `match`, so adding a
/// variant is one edit in one place.
pub trait Describe {
    /// The code, message, label and help of this value.
    fn describe(&self) -> Description;

    /// Its stable code.
    fn code(&self) -> Code {
        self.describe().code
    }
}

impl Description {
    /// deitc itself is inconsistent: a bug to report. Every phase has such a variant.
    pub fn internal(message: &str) -> Self {
        Description::new(Code::Internal, format!("internal error: {message}"))
            .help("this is a bug in deitc; please report it with the recipe")
    }

    /// A model shape this process has no graph for, with the nearest shapes it has: the
    /// checker warns of it, and the graph registry refuses it.
    pub fn shape_not_compiled(shape: &str, nearest: &[String]) -> Self {
        Description::new(
            Code::RunShapeNotCompiled,
            format!("no compiled-in graph for the shape {shape}"),
        )
        .label("this model")
        .help(format!(
            "`deitc run`, `eval` and `bench` generate a graph for it the first time (built with cargo, about 1–3 min, then cached; `deitc build` builds it ahead); the nearest compiled-in shapes are {}",
            nearest.join(", ")
        ))
    }
}
