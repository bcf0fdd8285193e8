//! Diagnostics: errors and warnings stored as data ([`Diag`] = [`ErrorKind`] + labels), with
//! one place that turns them into text ([`render`]).
//!
//! Every kind has a stable code (`deit::…`, listed in docs/diagnostics.md), a message, a help
//! line, a primary label at a span, and optional secondary labels ("inherited from … here").

mod diagnostic;
mod kind;
mod render;
mod suggest;

pub use diagnostic::{Diag, Diagnostics, Label, Severity};
pub use kind::ErrorKind;
pub use render::{render_human, render_json, RenderOptions};
pub use suggest::{did_you_mean, suggest};
