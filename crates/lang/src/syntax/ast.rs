//! The recipe AST: surface syntax with spans, before any resolution.
//!
//! Later phases never see it: `check/` turns it into the typed `ir::Recipe`.

use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `a.b.c`
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub parts: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn dotted(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// A whole recipe file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub extends: Vec<Extends>,
    pub items: Vec<Item>,
}

/// `extends "base.deit"`
#[derive(Debug, Clone, PartialEq)]
pub struct Extends {
    pub path: String,
    pub path_span: Span,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `path = expr`
    Field(Field),
    /// `name { items }`
    Block(Block),
    /// `delete path`
    Delete(Delete),
    /// `stage name { extends …; items }` (top level of a pipeline only).
    Stage(Stage),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Field(f) => f.span,
            Item::Block(b) => b.span,
            Item::Delete(d) => d.span,
            Item::Stage(s) => s.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub path: Path,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: Ident,
    pub items: Vec<Item>,
    pub span: Span,
}

/// One stage of a pipeline: a recipe of its own inside the pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: Ident,
    pub extends: Vec<Extends>,
    pub items: Vec<Item>,
    pub span: Span,
}

impl File {
    /// The file's stages, in order (none for an ordinary recipe).
    pub fn stages(&self) -> impl Iterator<Item = &Stage> {
        self.items.iter().filter_map(|i| match i {
            Item::Stage(s) => Some(s),
            _ => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub path: Path,
    pub span: Span,
}

/// A `--set path=value` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: Path,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumValue {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Epochs,
    Steps,
    Percent,
    /// Wall-clock time: `90 s`, `30 min`, `2 h` (`train.checkpoint_every`). Evaluation
    /// turns minutes and hours into seconds, so values only ever hold `Seconds`.
    Seconds,
    Minutes,
    Hours,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Epochs => "epochs",
            Unit::Steps => "steps",
            Unit::Percent => "%",
            Unit::Seconds => "s",
            Unit::Minutes => "min",
            Unit::Hours => "h",
        }
    }

    /// For a time unit, its length in seconds.
    pub fn seconds(self) -> Option<f64> {
        match self {
            Unit::Seconds => Some(1.0),
            Unit::Minutes => Some(60.0),
            Unit::Hours => Some(3600.0),
            Unit::Epochs | Unit::Steps | Unit::Percent => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `12`, `5e-4`, `20k` (the text is kept for `fmt`).
    Number {
        text: String,
        value: NumValue,
    },
    /// `"path/to"` (unescaped).
    Str(String),
    Bool(bool),
    /// `none`
    None,
    /// An enum value: `bicubic`, `adamw`.
    Symbol(String),
    /// A reference to another field: `train.batch`.
    Ref(Path),
    /// `300 epochs`, `5%` (the unit word is kept as written for `fmt`).
    Quantity {
        value: Box<Expr>,
        unit: Unit,
        unit_text: String,
    },
    /// `0.08..1.0`
    Range(Box<Expr>, Box<Expr>),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `image_folder("…")`
    Call {
        name: Ident,
        args: Vec<Arg>,
    },
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}
