//! The bridge from pest's errors to our diagnostics: a span in the whole file, the human
//! names of what was expected, and what was found instead.

use super::grammar::Rule;
use super::rule_name::rule_name;
use crate::diag::{Diag, ErrorKind};
use crate::source::{FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

pub fn to_diag(e: &Error<Rule>, text: &str, file: FileId, cli: bool) -> Box<Diag> {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let (found, end) = found_at(text, pos);
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => expected_list(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    Box::new(Diag::error(
        ErrorKind::Syntax {
            expected,
            found,
            cli,
        },
        Span::new(file, pos, end),
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

/// "a value", "`=` or `{`", … from the rules pest expected.
fn expected_list(positives: &[Rule]) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut values = 0;
    for r in positives {
        let name = rule_name(*r);
        if is_value(*r) {
            values += 1;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if values >= 3 {
        names.retain(|n| {
            !positives
                .iter()
                .any(|r| is_value(*r) && rule_name(*r) == *n)
        });
        names.insert(0, "a value");
    }
    match names.as_slice() {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
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
