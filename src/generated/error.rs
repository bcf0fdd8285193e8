//! [`GenerateError`]: why a generated graph cannot be built or run.

use deitc_diag::{Code, Describe, Description};

/// A failure of building or running the generated graph of a shape that is not compiled in.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerateError {
    /// A generated graph needs cargo, and none runs.
    NoCargo { cargo: String, message: String },
    /// A generated graph needs deitc's source, and it is not where this build says.
    Source { path: String },
    /// Cargo could not build a generated graph.
    Build { shape: String, message: String },
    /// The model cannot have a generated graph (e.g. `qkv_bias = false`).
    Unsupported { shape: String, reason: String },
}

impl Describe for GenerateError {
    fn describe(&self) -> Description {
        use GenerateError::*;
        match self {
            NoCargo { cargo, message } => Description::new(
                Code::GraphNoCargo,
                format!("this model's shape needs a generated graph, built with cargo, but `{cargo}` does not run: {message}"),
            )
            .label("this model")
            .help("install Rust with cargo (https://rustup.rs), or set `DEITC_CARGO` to a cargo binary; compiled-in shapes (`deitc check` names the nearest) need none"),
            Source { path } => Description::new(
                Code::GraphSource,
                format!("a generated graph is built against deitc's source, and `{path}` does not hold it"),
            )
            .label("this model")
            .help("set `DEITC_SOURCE` to a checkout of this deitc version's source"),
            Build { shape, message } => Description::new(
                Code::GraphBuild,
                format!("cargo could not build the graph for {shape}:\n{message}"),
            )
            .label("this model")
            .help("the graph's crate is kept under the cache (`deitc cache list`); `deitc cache clean` and retry, or report the error"),
            Unsupported { shape, reason } => Description::new(
                Code::GraphUnsupported,
                format!("no graph can be generated for {shape}: {reason}"),
            )
            .label("this model")
            .help("every graph deitc builds has a qkv bias: set `model.qkv_bias = true`"),
        }
    }
}
