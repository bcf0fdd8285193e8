//! The diagnostic record and the collection a phase pushes into.

use super::ErrorKind;
use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

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
pub struct Diag {
    pub kind: ErrorKind,
    pub severity: Severity,
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
}

impl Diag {
    /// An error at `span`, labelled with the kind's default label.
    pub fn error(kind: ErrorKind, span: Span) -> Self {
        let text = kind.label();
        Diag {
            severity: kind.default_severity(),
            kind,
            primary: Some(Label::new(span, text)),
            secondary: Vec::new(),
        }
    }

    /// A diagnostic about no particular text (e.g. a missing file named on the command line).
    pub fn global(kind: ErrorKind) -> Self {
        Diag {
            severity: kind.default_severity(),
            kind,
            primary: None,
            secondary: Vec::new(),
        }
    }

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

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn span(&self) -> Option<Span> {
        self.primary.as_ref().map(|l| l.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The diagnostics a run has collected, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub items: Vec<Diag>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diag) {
        if !self.items.contains(&d) {
            self.items.push(d);
        }
    }

    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diag>) {
        for d in ds {
            self.push(d);
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
