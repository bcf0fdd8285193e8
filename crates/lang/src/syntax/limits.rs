//! Limits that keep the parser and the evaluator from overflowing the stack on hostile
//! input (10 000 nested parentheses, a 100 000-term sum): checked before building the AST.

use super::scan::{marks, Mark};
use crate::diag::{Diag, ErrorKind};
use crate::source::{FileId, Span};

/// Deepest nesting of `(`, `[` and `{` accepted.
pub const MAX_NESTING: usize = 64;
/// Most binary operators accepted in one expression.
pub const MAX_OPERATORS: usize = 256;

/// Scans `text` (skipping strings and comments) and fails at the first bracket that opens
/// level `MAX_NESTING + 1`.
pub fn check_nesting(text: &str, file: FileId) -> Result<(), Box<Diag>> {
    let mut depth = 0usize;
    for mark in marks(text) {
        match mark {
            Mark::Open(i, _) => {
                depth += 1;
                if depth > MAX_NESTING {
                    let kind = ErrorKind::TooDeep { max: MAX_NESTING };
                    return Err(Box::new(Diag::error(kind, Span::new(file, i, i + 1))));
                }
            }
            Mark::Close(..) => depth = depth.saturating_sub(1),
            Mark::Comment(..) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_at_the_first_bracket_over_the_limit() {
        let text = format!("a = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let d = check_nesting(&text, FileId(0)).unwrap_err();
        assert_eq!(d.kind, ErrorKind::TooDeep { max: MAX_NESTING });
        assert_eq!(d.span().map(|s| s.start), Some(4 + MAX_NESTING as u32));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let text = format!("a = \"{}\" // {}\n", "(".repeat(100), "[".repeat(100));
        assert!(check_nesting(&text, FileId(0)).is_ok());
    }
}
