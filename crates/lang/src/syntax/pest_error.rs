//! The bridge from pest's errors to our diagnostics: a span in the whole file, the human
//! names of what was expected (grammar rules and literal tokens), and what was found.
//! Two common mistakes get a better span: an unclosed `{`/`(`/`[` at end of input, and a
//! field whose value is missing (the next line's name was read as the value).

use super::grammar::Rule;
use super::rule_name::rule_name;
use super::scan::{marks, Mark};
use crate::diag::{Diag, ErrorKind};
use crate::source::{FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

/// Tokens that would only continue an expression; listing them hides the real expectation.
/// Literal tokens worth naming; the rest are covered by rule names ("a value", "a string").
const LITERALS: &[&str] = &["}", ")", "]", "=", "{", ","];

pub fn to_diag(e: &Error<Rule>, text: &str, file: FileId, cli: bool) -> Box<Diag> {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let positives = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let attempts = e.parse_attempts();
    let literals: Vec<String> = attempts
        .as_ref()
        .map(|a| a.expected_tokens())
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.to_string())
        .collect();
    // pest reports the start of the failed item; the furthest point reached says more.
    let furthest = attempts
        .as_ref()
        .map_or(pos, |a| a.max_position)
        .min(text.len());
    let (pos, positives) =
        if furthest > pos && literals.iter().any(|l| LITERALS.contains(&l.as_str())) {
            (furthest, Vec::new())
        } else {
            (pos, positives)
        };
    let (found, end) = found_at(text, pos);
    let expected = expected_list(&positives, &literals);
    let syntax = |expected: String, found: String| ErrorKind::Syntax {
        expected,
        found,
        cli,
    };

    if pos >= text.trim_end().len() {
        if let Some((open, close)) = unclosed(text) {
            let d = Diag::error(
                syntax(format!("`{close}`"), "end of input".into()),
                Span::new(file, open, open + 1),
            )
            .with_label(format!("this `{}` is never closed", &text[open..open + 1]));
            return Box::new(d);
        }
    }
    if text[pos..].starts_with('"') && !text[pos + 1..].lines().next().unwrap_or("").contains('"') {
        let d = Diag::error(
            syntax("`\"`".into(), "end of line".into()),
            Span::new(file, pos, pos + 1),
        )
        .with_label("this string is never closed");
        return Box::new(d);
    }
    if let Some(eq) = missing_value(text, pos) {
        let d = Diag::error(
            syntax("a value".into(), "end of line".into()),
            Span::new(file, eq, eq + 1),
        )
        .with_label("the value after this `=` is missing");
        return Box::new(d);
    }
    // At the very end, point at the last character so the label has something to underline.
    let (start, end) = if pos == end && pos == text.len() {
        let trimmed = text.trim_end();
        let last = trimmed.chars().next_back().map_or(0, char::len_utf8);
        (trimmed.len() - last, trimmed.len())
    } else {
        (pos, end)
    };
    Box::new(Diag::error(
        syntax(expected, found),
        Span::new(file, start, end),
    ))
}

/// A short description of the text at `pos` and where that token ends.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = &text[pos..];
    let Some(first) = rest.chars().next() else {
        return ("end of input".to_string(), pos);
    };
    if first == '\n' || first == '\r' {
        return ("end of line".to_string(), pos + first.len_utf8());
    }
    let word_len: usize = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .map(char::len_utf8)
        .sum();
    let len = if word_len > 0 {
        word_len
    } else {
        first.len_utf8()
    };
    let token = &rest[..len];
    (format!("`{}`", token.escape_debug()), pos + len)
}

/// "a value", "`}`, a name or `delete`", … from the rules and literals pest expected.
fn expected_list(positives: &[Rule], literals: &[String]) -> String {
    let mut names: Vec<String> = Vec::new();
    let push = |names: &mut Vec<String>, n: String| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    let values = positives.iter().filter(|r| is_value(**r)).count();
    if values >= 3 {
        push(&mut names, "a value".into());
    }
    for lit in literals.iter().filter(|l| LITERALS.contains(&l.as_str())) {
        push(&mut names, format!("`{lit}`"));
    }
    for r in positives
        .iter()
        .filter(|r| !(is_continuation(**r) || values >= 3 && is_value(**r)))
    {
        push(&mut names, rule_name(*r).to_string());
    }
    if names.is_empty() {
        for r in positives {
            push(&mut names, rule_name(*r).to_string());
        }
    }
    if names.first().is_some_and(|n| n == "a value") {
        names.retain(|n| n != "a name");
    }
    match names.as_slice() {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

fn is_continuation(r: Rule) -> bool {
    matches!(
        r,
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::unit | Rule::magnitude
    )
}

fn is_value(r: Rule) -> bool {
    matches!(
        r,
        Rule::number
            | Rule::string
            | Rule::boolean
            | Rule::none
            | Rule::reference
            | Rule::symbol
            | Rule::list
            | Rule::call
            | Rule::paren
            | Rule::quantity
            | Rule::range
            | Rule::bound
            | Rule::expr
            | Rule::neg
    )
}

/// The innermost bracket still open at the end of `text` (strings and comments skipped),
/// with the bracket that would close it.
fn unclosed(text: &str) -> Option<(usize, char)> {
    let mut stack = Vec::new();
    for mark in marks(text) {
        match mark {
            Mark::Open(i, b'{') => stack.push((i, '}')),
            Mark::Open(i, b'(') => stack.push((i, ')')),
            Mark::Open(i, _) => stack.push((i, ']')),
            Mark::Close(..) => {
                stack.pop();
            }
            Mark::Comment(..) => {}
        }
    }
    stack.pop()
}

/// `embed =` at the end of a line, followed by `depth = 12`: pest reads `depth` as the
/// value and fails at the second `=`. Returns the offset of the first `=`.
fn missing_value(text: &str, pos: usize) -> Option<usize> {
    if !text[pos..].starts_with('=') {
        return None;
    }
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = text[line_start..pos].trim();
    let is_path = !before.is_empty()
        && before
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if !is_path || line_start == 0 {
        return None;
    }
    // The previous non-blank line, without its comment.
    let above = text[..line_start - 1].trim_end();
    let prev_start = above.rfind('\n').map_or(0, |i| i + 1);
    let line = &above[prev_start..];
    let code = match line.split_once("//") {
        Some((code, _)) if !code.contains('"') => code,
        _ => line,
    }
    .trim_end();
    code.ends_with('=').then(|| prev_start + code.len() - 1)
}
