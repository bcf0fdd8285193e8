//! Syntax: the pest grammar (`grammar/deit.pest`) turned into an AST with spans.
//!
//! `parse_recipe` reads a whole file, `parse_override` one `--set path=value` argument,
//! `parse_sweep` one `--sweep path=v1,v2` argument and
//! `parse_expr` a lone expression (the schema's defaults). Every failure is a [`Diag`]:
//! pest errors go through our own bridge (`pest_error.rs`) with a human name for every rule.

pub mod ast;
mod build;
pub mod format;
mod grammar;
mod limits;
mod pest_error;
mod rule_name;
mod scan;

pub use build::{parse_expr, parse_override, parse_recipe, parse_sweep};
pub use limits::{MAX_NESTING, MAX_OPERATORS};

use crate::diag::Diag;

pub type ParseResult<T> = Result<T, Box<Diag>>;
