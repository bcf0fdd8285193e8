//! Diagnostics: errors and warnings stored as data ([`Diag`] = a kind + labels), with one
//! place that turns them into text ([`render_human`], [`render_json`]). [`ErrorKind`] is the
//! language's own errors; the back end's phases have theirs, and every kind implements
//! [`Describe`] (from `deitc-diag`, with the [`Code`]s).
//!
//! Every kind has a stable code (`deit::…`, listed in docs/diagnostics.md), a message, a help
//! line, a primary label at a span, and optional secondary labels ("inherited from … here").

mod diagnostic;
mod kind;
mod render;

pub use deitc_diag::{did_you_mean, first_few, plural, suggest, Area, Code, Describe, Description};
pub use diagnostic::{Diag, Diagnostics, Label, Severity};
pub use kind::ErrorKind;
pub use render::{render_human, render_json, RenderOptions};
