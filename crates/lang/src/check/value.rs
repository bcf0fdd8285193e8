//! Values produced by evaluating recipe expressions.

use crate::source::Span;
use crate::syntax::ast::{Ident, Unit};

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// An enum name: `bicubic`.
    Sym(String),
    None,
    Range(f64, f64),
    List(Vec<Spanned>),
    /// `300 epochs`, `5%` (value 5).
    Qty(f64, Unit),
    /// A data-source call, type-checked against `schema::SOURCES` later.
    Call {
        name: Ident,
        args: Vec<(Option<Ident>, Spanned)>,
    },
    /// A type-checked data source.
    Source(crate::ir::Source),
    /// `stage.teacher.best`: a pipeline stage's checkpoint.
    Stage {
        stage: String,
        output: crate::ir::StageOutput,
    },
}

/// A value and the expression that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub val: Val,
    pub span: Span,
}

impl Val {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// What kind of value this is, for messages: "a string", "a quantity in epochs".
    pub fn kind_name(&self) -> String {
        match self {
            Val::Int(_) => "a whole number".into(),
            Val::Float(_) => "a number".into(),
            Val::Str(_) => "a string".into(),
            Val::Bool(_) => "a boolean".into(),
            Val::Sym(s) => format!("the name `{s}`"),
            Val::None => "`none`".into(),
            Val::Range(..) => "a range".into(),
            Val::List(_) => "a list".into(),
            Val::Qty(_, Unit::Percent) => "a percentage".into(),
            Val::Qty(_, Unit::Seconds | Unit::Minutes | Unit::Hours) => "a time".into(),
            Val::Qty(_, u) => format!("a quantity in {}", u.name()),
            Val::Call { name, .. } => format!("a call to `{}`", name.name),
            Val::Source(_) => "a data source".into(),
            Val::Stage { .. } => "a stage's checkpoint".into(),
        }
    }

    /// The value as a recipe would write it.
    pub fn show(&self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Float(f) => show_f64(*f),
            Val::Str(s) => format!("{s:?}"),
            Val::Bool(b) => b.to_string(),
            Val::Sym(s) => s.clone(),
            Val::None => "none".into(),
            Val::Range(a, b) => format!("{}..{}", show_f64(*a), show_f64(*b)),
            Val::List(items) => {
                let inner: Vec<String> = items.iter().map(|s| s.val.show()).collect();
                format!("[{}]", inner.join(", "))
            }
            Val::Qty(v, Unit::Percent) if v.fract() == 0.0 && v.abs() < 1e15 => {
                format!("{}%", *v as i64)
            }
            Val::Qty(v, Unit::Percent) => format!("{}%", show_f64(*v)),
            // A time in its largest whole unit: `30 min` rather than `1800 s`.
            Val::Qty(v, Unit::Seconds) if v.fract() == 0.0 && *v > 0.0 && *v < 1e15 => {
                let s = *v as i64;
                match s {
                    s if s % 3600 == 0 => format!("{} h", s / 3600),
                    s if s % 60 == 0 => format!("{} min", s / 60),
                    s => format!("{s} s"),
                }
            }
            Val::Qty(v, u) if v.fract() == 0.0 && v.abs() < 1e15 => {
                format!("{} {}", *v as i64, u.name())
            }
            Val::Qty(v, u) => format!("{} {}", show_f64(*v), u.name()),
            Val::Call { name, .. } => format!("{}(…)", name.name),
            Val::Source(s) => format!("{s:?}"),
            Val::Stage { stage, output } => format!("stage.{stage}.{}", output.name()),
        }
    }
}

/// Shortest round-tripping form, with exponents for very small or large magnitudes.
pub fn show_f64(f: f64) -> String {
    if f != 0.0 && (f.abs() < 1e-3 || f.abs() >= 1e7) {
        format!("{f:e}")
    } else {
        let s = format!("{f}");
        if s.contains(['.', 'e', 'i', 'N']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}
