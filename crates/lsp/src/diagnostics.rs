//! `deitc check`'s diagnostics as the protocol's: the code, linking to its section of
//! docs/diagnostics.md; the severity; the primary span; the secondary labels as related
//! information; the help line after the message. A diagnostic in a base file is published on
//! that file, and on the `extends` line of the recipe being checked. Each carries, in
//! `data`, the quick fix it offers (see `actions`).

use crate::text::LineIndex;
use deitc_lang::check::Checked;
use deitc_lang::diag::{Code, Describe, Diag, ErrorKind, Severity};
use deitc_lang::source::{FileId, SourceKind, SourceMap, Span};
use lsp_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, Range, Url,
};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// At most this many diagnostics are published per file (a hostile file can have
/// thousands).
pub const MAX_PER_FILE: usize = 500;

/// Where the docs of the codes are: `base#anchor`.
#[derive(Debug, Clone)]
pub struct DocsLink {
    base: String,
}

impl DocsLink {
    /// `base` is the URL of docs/diagnostics.md (`initializationOptions.diagnosticsDocs`,
    /// else `$DEITC_DOCS_URL`, else the file in deitc's source folder).
    pub fn new(base: Option<String>) -> Self {
        let base = base
            .or_else(|| std::env::var("DEITC_DOCS_URL").ok())
            .filter(|b| Url::parse(b).is_ok())
            .unwrap_or_else(default_docs);
        DocsLink { base }
    }

    /// The link to `code`'s section.
    pub fn href(&self, code: Code) -> Option<Url> {
        Url::parse(&format!("{}#{}", self.base, anchor(code.as_str()))).ok()
    }
}

/// `file://…/docs/diagnostics.md` in the folder deitc was built from (`$DEITC_SOURCE`
/// when set, as for generated graphs).
fn default_docs() -> String {
    let root = std::env::var_os("DEITC_SOURCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let path = root.join("docs/diagnostics.md");
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    Url::from_file_path(&path)
        .map(String::from)
        .unwrap_or_else(|_| "file:///docs/diagnostics.md".into())
}

/// The heading anchor of a code's section, as GitHub and most Markdown renderers make it
/// from "### `deit::io::not_found`": `deitionot_found`.
pub fn anchor(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The path of a registered file, when it is one on disk (not a default or a `--set`).
pub fn file_path(map: &SourceMap, file: FileId) -> Option<PathBuf> {
    match &map.file(file).kind {
        SourceKind::File { path, .. } => Some(std::path::absolute(path).unwrap_or(path.clone())),
        _ => None,
    }
}

/// Spans to protocol locations, with one line index per file.
pub struct Locator<'a> {
    pub map: &'a SourceMap,
    indexes: HashMap<FileId, LineIndex>,
}

impl<'a> Locator<'a> {
    pub fn new(map: &'a SourceMap) -> Self {
        Locator {
            map,
            indexes: HashMap::new(),
        }
    }

    pub fn range(&mut self, span: Span) -> Range {
        let text = self.map.text(span.file);
        let index = self
            .indexes
            .entry(span.file)
            .or_insert_with(|| LineIndex::new(text));
        index.range(text, span.start as usize, span.end as usize)
    }

    pub fn location(&mut self, span: Span) -> Option<Location> {
        let path = file_path(self.map, span.file)?;
        let uri = Url::from_file_path(path).ok()?;
        Some(Location::new(uri, self.range(span)))
    }
}

/// The diagnostics of one check, by file path. `root` is the recipe checked.
pub fn by_file(
    checked: &Checked,
    root: &std::path::Path,
    docs: &DocsLink,
) -> BTreeMap<PathBuf, Vec<Diagnostic>> {
    let map = &checked.map;
    let mut loc = Locator::new(map);
    let mut out: BTreeMap<PathBuf, Vec<Diagnostic>> = BTreeMap::new();
    let root = std::path::absolute(root).unwrap_or(root.to_path_buf());
    out.entry(root.clone()).or_default();
    for d in &checked.diags.items {
        let desc = d.kind.describe();
        let mut message = desc.message.clone();
        if let Some(help) = &desc.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .secondary
            .iter()
            .filter_map(|l| {
                Some(DiagnosticRelatedInformation {
                    location: loc.location(l.span)?,
                    message: l.text.clone(),
                })
            })
            .collect();
        let base = Diagnostic {
            range: Range::default(),
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(desc.code.as_str().to_string())),
            code_description: docs.href(desc.code).map(|href| CodeDescription { href }),
            source: Some("deitc".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        };
        let primary = d
            .primary
            .as_ref()
            .and_then(|p| Some((p, file_path(map, p.span.file)?)));
        match primary {
            Some((label, path)) => {
                let range = loc.range(label.span);
                let mut here = base.clone();
                here.range = range;
                here.data = fix_data(d, checked, &mut loc);
                if path != root {
                    // Also on the `extends` of the recipe being edited that pulls it in.
                    let site = d.secondary.iter().find(|l| {
                        file_path(map, l.span.file).as_ref() == Some(&root)
                            && l.text.starts_with("inherited")
                    });
                    let mut there = base.clone();
                    there.range = site.map_or_else(Range::default, |l| loc.range(l.span));
                    let name = map.name(label.span.file);
                    there.message = format!("in `{name}`: {}", base.message);
                    let mut rel = there.related_information.take().unwrap_or_default();
                    if let Some(location) = loc.location(label.span) {
                        rel.insert(
                            0,
                            DiagnosticRelatedInformation {
                                location,
                                message: label.text.clone(),
                            },
                        );
                    }
                    there.related_information = Some(rel);
                    push(&mut out, root.clone(), there);
                }
                push(&mut out, path, here);
            }
            // About no text of a file (a default, the command line, nothing): the top.
            None => push(&mut out, root.clone(), base),
        }
    }
    out
}

fn push(out: &mut BTreeMap<PathBuf, Vec<Diagnostic>>, path: PathBuf, d: Diagnostic) {
    let list = out.entry(path).or_default();
    if list.len() < MAX_PER_FILE && !list.contains(&d) {
        list.push(d);
    }
}

/// The quick fix a diagnostic offers, as `data`: `{"title", "newText"}` replacing its
/// range (a did-you-mean), or `{"title", "remove": range}` (an inert field's statement).
fn fix_data(d: &Diag, checked: &Checked, loc: &mut Locator<'_>) -> Option<serde_json::Value> {
    let span = d.span()?;
    if let Some((wrong, right)) = suggestion(&d.kind) {
        let written = checked.map.slice(span);
        let new_text = replace_name(written, &wrong, &right);
        return Some(serde_json::json!({
            "title": format!("Replace with `{right}`"),
            "newText": new_text,
        }));
    }
    let field = match &d.kind {
        ErrorKind::InertField { path, .. } => path.clone(),
        ErrorKind::InertColorJitter => "augment.color_jitter".to_string(),
        _ => return None,
    };
    let statement = checked
        .origins
        .get(field.as_str())
        .copied()
        .filter(|s| s.file == span.file)?;
    let text = checked.map.text(statement.file);
    let (start, end) = whole_lines(text, statement.start as usize, statement.end as usize);
    let range = loc.range(Span::new(statement.file, start, end));
    Some(serde_json::json!({
        "title": format!("Remove `{field}` (it has no effect)"),
        "remove": range,
    }))
}

/// The wrong name and its suggestion, for a did-you-mean diagnostic.
fn suggestion(kind: &ErrorKind) -> Option<(String, String)> {
    let (wrong, right) = match kind {
        ErrorKind::UnknownBlock {
            name, suggestion, ..
        } => (name, suggestion),
        ErrorKind::UnknownField {
            name, suggestion, ..
        } => (name, suggestion),
        ErrorKind::UnknownVariant {
            value, suggestion, ..
        } => (value, suggestion),
        ErrorKind::UnknownReference {
            path, suggestion, ..
        } => (path, suggestion),
        ErrorKind::UnknownFunction {
            name, suggestion, ..
        } => (name, suggestion),
        ErrorKind::UnknownStage {
            name, suggestion, ..
        } => (name, suggestion),
        ErrorKind::StageOutput {
            output, suggestion, ..
        } => (output, suggestion),
        _ => return None,
    };
    Some((wrong.clone(), right.clone()?))
}

/// `written` with the name `wrong` replaced by `right`: the whole text, or one part of a
/// dotted path.
pub fn replace_name(written: &str, wrong: &str, right: &str) -> String {
    if written == wrong || wrong.is_empty() {
        return right.to_string();
    }
    let parts: Vec<&str> = written.split('.').collect();
    if let Some(i) = parts.iter().position(|p| *p == wrong) {
        let mut parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        parts[i] = right.to_string();
        return parts.join(".");
    }
    if written.contains(wrong) {
        return written.replacen(wrong, right, 1);
    }
    right.to_string()
}

/// `[start, end)` widened to whole lines when nothing else is on them (a trailing
/// comment goes with the statement), so that removing it leaves no blank line.
pub fn whole_lines(text: &str, start: usize, end: usize) -> (usize, usize) {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    let before = &text[line_start..start];
    let after = text[end..line_end].trim();
    if before.trim().is_empty() && (after.is_empty() || after.starts_with("//")) {
        (line_start, line_end)
    } else {
        (start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_replacements() {
        assert_eq!(
            anchor("deit::run::shape_not_compiled"),
            "deitrunshape_not_compiled"
        );
        assert_eq!(replace_name("modle", "modle", "model"), "model");
        assert_eq!(
            replace_name("train.bacth", "train.bacth", "train.batch"),
            "train.batch"
        );
        assert_eq!(
            replace_name("stage.teachr.best", "teachr", "teacher"),
            "stage.teacher.best"
        );
        let text = "a {\n    x = 1 // why\n    y = 2\n}\n";
        let x = text.find("x = 1").unwrap_or(0);
        assert_eq!(whole_lines(text, x, x + 5), (4, 21));
    }
}
