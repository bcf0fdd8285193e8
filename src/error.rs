//! [`Error`]: the kind of every diagnostic the command line renders, composed of each
//! phase's own error enum. A phase describes its errors ([`Describe`]); this type only
//! says which phase an error came from, plus the few failures that belong to the commands
//! themselves.

use crate::cli::UsageError;
use crate::diag::ErrorKind;
use crate::generated::GenerateError;
use crate::interop::InteropError;
use crate::report::ReportError;
use crate::train::RunError;
use deitc_diag::{Code, Describe, Description};

/// An error or warning of any phase.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The command line: an unknown option, an invalid value, a missing argument.
    Usage(UsageError),
    /// The language: reading, parsing and checking a recipe.
    Lang(ErrorKind),
    /// Building a graph, training, evaluating.
    Run(RunError),
    /// Converting weights (`import`, `export`).
    Interop(InteropError),
    /// Building or running a generated graph.
    Generate(GenerateError),
    /// Reading runs and sweeps (`report`, `runs`).
    Report(ReportError),
    /// An output file (e.g. `deitc preview`'s PNG) cannot be written.
    WriteOutput { path: String, message: String },
    /// `deitc fmt` cannot rewrite a recipe in place.
    Rewrite { path: String, message: String },
}

impl Describe for Error {
    fn describe(&self) -> Description {
        match self {
            Error::Usage(e) => e.describe(),
            Error::Lang(e) => e.describe(),
            Error::Run(e) => e.describe(),
            Error::Interop(e) => e.describe(),
            Error::Generate(e) => e.describe(),
            Error::Report(e) => e.describe(),
            Error::WriteOutput { path, message } => {
                Description::new(Code::IoWrite, format!("cannot write `{path}`: {message}"))
                    .help("check that the output folder can be created and written")
            }
            Error::Rewrite { path, message } => {
                Description::new(Code::IoWrite, format!("cannot rewrite `{path}`: {message}"))
                    .help("`deitc fmt` replaces the file through a temporary file next to it: make the file and its folder writable, or pass `--check` to only report what would change")
            }
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(e: ErrorKind) -> Self {
        Error::Lang(e)
    }
}

impl From<RunError> for Error {
    fn from(e: RunError) -> Self {
        Error::Run(e)
    }
}

impl From<InteropError> for Error {
    fn from(e: InteropError) -> Self {
        Error::Interop(e)
    }
}

impl From<ReportError> for Error {
    fn from(e: ReportError) -> Self {
        Error::Report(e)
    }
}

impl From<GenerateError> for Error {
    fn from(e: GenerateError) -> Self {
        Error::Generate(e)
    }
}
