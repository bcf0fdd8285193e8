//! The diagnostic record and the collection a phase pushes into. A [`Diag`] is generic
//! over what went wrong: the language's [`ErrorKind`] by default, or any phase's error enum
//! (or the command line's composition of them) that implements [`Describe`].

use super::ErrorKind;
use crate::source::Span;
pub use deitc_diag::Severity;
use deitc_diag::{Code, Describe};

/// A span with the short text printed under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

impl Label {
    pub fn new(span: Span, text: impl Into<String>) -> Self {
        Label {
            span,
            text: text.into(),
        }
    }
}

/// One error or warning: what went wrong (`kind`) and where (`primary`, `secondary`).
#[derive(Debug, Clone, PartialEq)]
pub struct Diag<K = ErrorKind> {
    pub kind: K,
    pub severity: Severity,
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
}

impl<K: Describe> Diag<K> {
    /// An error at `span`, labelled with the kind's default label.
    pub fn error(kind: K, span: Span) -> Self {
        let d = kind.describe();
        Diag {
            severity: d.code.severity(),
            kind,
            primary: Some(Label::new(span, d.label)),
            secondary: Vec::new(),
        }
    }

    /// A diagnostic about no particular text (e.g. a missing file named on the command line).
    pub fn global(kind: K) -> Self {
        Diag {
            severity: kind.code().severity(),
            kind,
            primary: None,
            secondary: Vec::new(),
        }
    }

    pub fn code(&self) -> Code {
        self.kind.code()
    }
}

impl<K> Diag<K> {
    pub fn with_label(mut self, text: impl Into<String>) -> Self {
        if let Some(p) = &mut self.primary {
            p.text = text.into();
        }
        self
    }

    pub fn with_secondary(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label::new(span, text));
        self
    }

    pub fn span(&self) -> Option<Span> {
        self.primary.as_ref().map(|l| l.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The same diagnostic about `f(kind)`: how the command line lifts a phase's
    /// diagnostics into its composed error type.
    pub fn map<L>(self, f: impl FnOnce(K) -> L) -> Diag<L> {
        Diag {
            kind: f(self.kind),
            severity: self.severity,
            primary: self.primary,
            secondary: self.secondary,
        }
    }
}

/// The diagnostics a run has collected, in the order they were found.
#[derive(Debug, Clone)]
pub struct Diagnostics<K = ErrorKind> {
    pub items: Vec<Diag<K>>,
}

impl<K> Default for Diagnostics<K> {
    fn default() -> Self {
        Diagnostics { items: Vec::new() }
    }
}

impl<K> Diagnostics<K> {
    /// The same diagnostics, each about `f(kind)`.
    pub fn map<L>(self, f: impl Fn(K) -> L) -> Diagnostics<L> {
        Diagnostics {
            items: self.items.into_iter().map(|d| d.map(&f)).collect(),
        }
    }
}

/// The most diagnostics one run collects: past it, more are dropped. A hostile file (a
/// megabyte of repeated statements) would otherwise take time quadratic in its size to
/// de-duplicate, and no one reads the thousandth error.
pub const MAX_DIAGNOSTICS: usize = 1000;

impl<K: PartialEq> Diagnostics<K> {
    /// Adds `d` unless the same diagnostic is already there, or [`MAX_DIAGNOSTICS`] are.
    pub fn push(&mut self, d: Diag<K>) {
        if self.items.len() < MAX_DIAGNOSTICS && !self.items.contains(&d) {
            self.items.push(d);
        }
    }

    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diag<K>>) {
        for d in ds {
            self.push(d);
        }
    }
}

impl<K> Diagnostics<K> {
    /// One diagnostic about no particular text.
    pub fn global(kind: K) -> Self
    where
        K: Describe,
    {
        Diagnostics {
            items: vec![Diag::global(kind)],
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diag::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Sorted by file and position, so output order does not depend on check order.
    pub fn sorted(mut self) -> Self {
        self.items.sort_by_key(|d| {
            (
                d.span().map(|s| (s.file, s.start, s.end)),
                std::cmp::Reverse(d.severity),
            )
        });
        self
    }
}
