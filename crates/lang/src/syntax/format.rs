//! The canonical layout of a recipe (`deitc fmt`): one item per line, 4-space indentation,
//! single spaces around `=` and operators, at most one blank line kept between items, a
//! blank line between top-level blocks. Comments are kept: own-line comments before the
//! item that follows them, end-of-line comments after their item.

use super::ast::*;
use super::scan::{marks, Mark};
use crate::source::Span;

/// A `//` comment in the source.
#[derive(Debug, Clone)]
struct Comment {
    start: usize,
    end: usize,
    text: String,
}

/// Formats `file` (parsed from `text`).
pub fn format(file: &File, text: &str) -> String {
    let mut f = Formatter {
        text,
        comments: comments(text),
        next: 0,
        out: String::new(),
        last_end: 0,
    };
    for e in &file.extends {
        f.leading(e.span.start as usize, 0, true);
        if f.blank_before(e.span.start as usize) {
            f.blank();
        }
        f.line(0, &format!("extends {}", quote(&e.path)));
        f.trailing(e.span);
    }
    for (i, item) in file.items.iter().enumerate() {
        let force_blank = i == 0 && !file.extends.is_empty()
            || i > 0 && matches!(item, Item::Block(_) | Item::Stage(_))
            || i > 0 && matches!(file.items[i - 1], Item::Block(_) | Item::Stage(_));
        f.item(item, 0, force_blank);
    }
    f.leading(text.len(), 0, false);
    f.out
}

struct Formatter<'a> {
    text: &'a str,
    comments: Vec<Comment>,
    /// Index of the first comment not yet printed.
    next: usize,
    out: String,
    /// End of the last printed source piece, to find blank lines.
    last_end: usize,
}

impl Formatter<'_> {
    fn line(&mut self, depth: usize, s: &str) {
        for _ in 0..depth {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// Was there a blank line in the source between the last printed piece and `pos`?
    fn blank_before(&self, pos: usize) -> bool {
        let gap = &self.text[self.last_end.min(pos)..pos];
        gap.matches('\n').count() >= 2
    }

    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("{\n") && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Prints the comments that start before `pos`, each on its own line.
    fn leading(&mut self, pos: usize, depth: usize, allow_blank: bool) {
        while let Some(c) = self
            .comments
            .get(self.next)
            .filter(|c| c.start < pos)
            .cloned()
        {
            if allow_blank && self.blank_before(c.start) {
                self.blank();
            }
            self.line(depth, &c.text);
            self.last_end = c.end;
            self.next += 1;
        }
    }

    /// Appends an end-of-line comment that follows `span` on its last line.
    fn trailing(&mut self, span: Span) {
        self.trailing_before(span, usize::MAX);
    }

    /// As `trailing`, for a comment that starts before `limit` only.
    fn trailing_before(&mut self, span: Span, limit: usize) {
        let end = span.end as usize;
        self.last_end = end;
        let next = self
            .comments
            .get(self.next)
            .filter(|c| c.start >= end && c.start < limit);
        if let Some(c) = next.cloned() {
            if !self.text[end..c.start].contains('\n') {
                self.out.pop();
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.out.push('\n');
                self.last_end = c.end;
                self.next += 1;
            }
        }
    }

    fn item(&mut self, item: &Item, depth: usize, force_blank: bool) {
        let start = item.span().start as usize;
        let had_comments = self
            .comments
            .get(self.next)
            .is_some_and(|c| c.start < start);
        if force_blank || (!had_comments && self.blank_before(start)) {
            self.blank();
        }
        self.leading(start, depth, true);
        if had_comments && self.blank_before(start) {
            self.blank();
        }
        match item {
            Item::Field(field) => {
                // Comments inside a value move above it: the value prints on one line.
                self.leading(field.span.end as usize, depth, false);
                self.line(
                    depth,
                    &format!("{} = {}", field.path.dotted(), expr(&field.value)),
                );
                self.trailing(field.span);
            }
            Item::Delete(d) => {
                self.line(depth, &format!("delete {}", d.path.dotted()));
                self.trailing(d.span);
            }
            Item::Block(b) => self.braced(&b.name.name, b.name.span, b.span, &[], &b.items, depth),
            Item::Stage(s) => self.braced(
                &format!("stage {}", s.name.name),
                s.name.span,
                s.span,
                &s.extends,
                &s.items,
                depth,
            ),
        }
    }

    /// `header { extends…; items }`: a block, or a stage with its own `extends` lines.
    fn braced(
        &mut self,
        header: &str,
        name: Span,
        span: Span,
        extends: &[Extends],
        items: &[Item],
        depth: usize,
    ) {
        let close = span.end as usize - 1;
        let comment_inside = self
            .comments
            .get(self.next)
            .is_some_and(|c| c.start < close);
        if items.is_empty() && extends.is_empty() && !comment_inside {
            self.line(depth, &format!("{header} {{}}"));
            self.trailing(span);
            return;
        }
        self.line(depth, &format!("{header} {{"));
        let open_end = name.end as usize;
        let brace_end = open_end + self.text[open_end..].find('{').unwrap_or(0) + 1;
        let first = extends
            .first()
            .map(|e| e.span)
            .or(items.first().map(Item::span))
            .map_or(usize::MAX, |s| s.start as usize);
        self.trailing_before(
            Span {
                end: brace_end as u32,
                ..span
            },
            first,
        );
        for e in extends {
            self.leading(e.span.start as usize, depth + 1, true);
            self.line(depth + 1, &format!("extends {}", quote(&e.path)));
            self.trailing(e.span);
        }
        for (i, item) in items.iter().enumerate() {
            self.item(item, depth + 1, i == 0 && !extends.is_empty());
        }
        self.leading(close, depth + 1, true);
        self.line(depth, "}");
        self.trailing(span);
    }
}

/// Every `//` comment outside strings, with its text trimmed at the end.
fn comments(text: &str) -> Vec<Comment> {
    marks(text)
        .into_iter()
        .filter_map(|m| match m {
            Mark::Comment(start, end) => Some(Comment {
                start,
                end,
                text: text[start..end].trim_end().to_string(),
            }),
            _ => None,
        })
        .collect()
}

/// An expression on one line, canonically spaced.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number { text, .. } => text.clone(),
        ExprKind::Str(s) => quote(s),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Symbol(s) => s.clone(),
        ExprKind::Ref(p) => p.dotted(),
        ExprKind::Quantity {
            value,
            unit: Unit::Percent,
            ..
        } => format!("{}%", expr(value)),
        ExprKind::Quantity {
            value, unit_text, ..
        } => format!("{} {unit_text}", expr(value)),
        ExprKind::Range(lo, hi) => format!("{}..{}", expr(lo), expr(hi)),
        ExprKind::List(items) => format!(
            "[{}]",
            items.iter().map(expr).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Call { name, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{} = {}", n.name, expr(&a.value)),
                    None => expr(&a.value),
                })
                .collect();
            format!("{}({})", name.name, args.join(", "))
        }
        ExprKind::Neg(inner) => format!("-{}", expr(inner)),
        ExprKind::Binary(op, l, r) => format!("{} {} {}", expr(l), op.symbol(), expr(r)),
        ExprKind::Paren(inner) => format!("({})", expr(inner)),
    }
}

/// A string literal with `"`, `\`, newlines and tabs escaped.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
