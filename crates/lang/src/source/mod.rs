//! Source text: the files a recipe is read from, and the spans that point into them.
//!
//! Every piece of text deitc reads — a recipe file, a base it extends, a `--set` argument
//! (`<cli:N>`), a built-in default (`<default>`) — is registered in one [`SourceMap`] and
//! addressed by a [`FileId`]. Spans are byte ranges into one of those texts.

mod load;
mod source_map;
mod span;

pub use load::{load_file, LoadError, MAX_SOURCE_BYTES};
pub use source_map::{normalize, SourceFile, SourceKind, SourceMap};
pub use span::{FileId, Span};
