//! What an editor asks of a recipe while it is being edited (the language server in
//! `crates/lsp` is the one caller): checking the text the editor holds rather than the files
//! on disk ([`overlay`]), and every field's resolved value with the statement that set it
//! ([`resolve`]), the provenance `deitc explain` prints, with spans.

pub mod overlay;
mod resolve;

pub use overlay::{with_overlay, DatasetFacts, Overlay};
pub use resolve::{resolve, FieldInfo, Resolution, Scope, Setting};
