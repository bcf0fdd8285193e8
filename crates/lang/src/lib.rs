//! The deitc language, from recipe text to the typed recipe: `source` (files and spans) →
//! `syntax` (pest → AST) → `check` (inheritance, overrides, evaluation, schema and rule
//! validation) → [`ir`] (the typed, resolved `Recipe`, its own crate). `diag` holds the
//! diagnostics every phase reports, with their one renderer.
//!
//! Nothing here knows how a recipe is trained: what the checker needs to know about the
//! build that will run it comes in as data ([`check::BuildFacts`]).

pub mod check;
pub mod diag;
pub mod query;
pub mod source;
pub mod syntax;

pub use deitc_ir as ir;
