//! deitc's diagnostic vocabulary, shared by every phase: the stable [`Code`]s, the
//! [`Describe`] trait each phase's error enum implements (one `match` giving code, message,
//! label and help), the wording helpers the phases share, and [`read`]: the bounded,
//! kind-checked read of an input file every phase uses.
//!
//! Each phase owns its errors as data next to its code (the language's `ErrorKind`, the
//! back end's `RunError`, `InteropError`, …); the command line composes them into one
//! diagnostic and renders it once. This crate depends on nothing of deitc.

mod code;
mod describe;
pub mod read;
mod words;

pub use code::{Area, Code, Severity};
pub use describe::{Describe, Description};
pub use words::{did_you_mean, first_few, plural, suggest};
