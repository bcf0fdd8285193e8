//! Turning [`Diag`]s into text: miette's graphical report for people, JSON for tools.
//!
//! Labels in the primary span's file are drawn on its snippet; labels in other files (a
//! base recipe, a `--set` argument) become notes with their own snippet.

use super::{Diag, Severity};
use crate::source::{SourceMap, Span};
use deitc_diag::Describe;
use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, JSONReportHandler, LabeledSpan,
    NamedSource, SourceSpan,
};
use std::fmt;

#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            width: 100,
        }
    }
}

/// One diagnostic as miette sees it: a message, a source, labels, and related notes.
#[derive(Debug)]
struct Report {
    message: String,
    code: Option<&'static str>,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::new((span.start as usize).into(), span.len())
}

fn named_source(map: &SourceMap, span: Span) -> NamedSource<String> {
    NamedSource::new(map.name(span.file), map.text(span.file).to_string())
}

fn to_report<K: Describe>(d: &Diag<K>, map: &SourceMap) -> Report {
    let described = d.kind.describe();
    let severity = match d.severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    };
    let mut report = Report {
        message: described.message,
        code: Some(described.code.as_str()),
        severity,
        help: described.help,
        source: None,
        labels: Vec::new(),
        related: Vec::new(),
    };
    let Some(primary) = &d.primary else {
        return report;
    };
    report.source = Some(named_source(map, primary.span));
    report.labels.push(LabeledSpan::new_primary_with_span(
        Some(primary.text.clone()),
        source_span(primary.span),
    ));
    for l in &d.secondary {
        if l.span.file == primary.span.file {
            report.labels.push(LabeledSpan::new_with_span(
                Some(l.text.clone()),
                source_span(l.span),
            ));
        } else {
            report.related.push(Report {
                message: l.text.clone(),
                code: None,
                severity: miette::Severity::Advice,
                help: None,
                source: Some(named_source(map, l.span)),
                labels: vec![LabeledSpan::new_primary_with_span(
                    Some("here".to_string()),
                    source_span(l.span),
                )],
                related: Vec::new(),
            });
        }
    }
    report
}

/// The human rendering: rustc-like, unicode, optionally coloured, at a fixed width.
pub fn render_human<K: Describe>(d: &Diag<K>, map: &SourceMap, opts: RenderOptions) -> String {
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = handler.render_report(&mut out, &to_report(d, map));
    out
}

/// One JSON object (miette's schema) for editors and CI.
pub fn render_json<K: Describe>(d: &Diag<K>, map: &SourceMap) -> String {
    let mut out = String::new();
    let _ = JSONReportHandler::new().render_report(&mut out, &to_report(d, map));
    out
}
