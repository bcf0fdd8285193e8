//! Building the AST from pest's pairs.

use super::ast::*;
use super::grammar::{DeitParser, Rule};
use super::limits::{check_nesting, MAX_OPERATORS};
use super::pest_error::to_diag;
use super::ParseResult;
use crate::diag::{Diag, ErrorKind};
use crate::source::{FileId, SourceKind, SourceMap, Span};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use std::sync::OnceLock;

/// Parses a whole recipe file registered as `file`.
pub fn parse_recipe(map: &SourceMap, file: FileId) -> ParseResult<File> {
    let top = parse_rule(map, file, Rule::recipe)?;
    let b = Builder { file };
    let mut extends = Vec::new();
    let mut items = Vec::new();
    for pair in top.into_inner() {
        match pair.as_rule() {
            Rule::extends => extends.push(b.extends(pair)?),
            Rule::EOI => {}
            _ => items.push(b.item(pair)?),
        }
    }
    Ok(File { extends, items })
}

/// Parses one `--set path=value` argument registered as `file`.
pub fn parse_override(map: &SourceMap, file: FileId) -> ParseResult<Override> {
    let top = parse_rule(map, file, Rule::cli_set)?;
    let span = Builder::span_of(file, &top);
    let b = Builder { file };
    let mut inner = top.into_inner();
    let (Some(path), Some(value)) = (inner.next(), inner.next()) else {
        unreachable!("grammar: override = path = expr")
    };
    Ok(Override {
        path: b.path(path),
        value: b.expr(value)?,
        span,
    })
}

/// Parses one `--sweep path=v1,v2,…` argument registered as `file`, as the override
/// `path = [v1, v2, …]` (a lone list, `path=[v1,v2]`, is taken as the values themselves).
pub fn parse_sweep(map: &SourceMap, file: FileId) -> ParseResult<Override> {
    let top = parse_rule(map, file, Rule::cli_sweep)?;
    let span = Builder::span_of(file, &top);
    let b = Builder { file };
    let mut inner = top.into_inner().filter(|p| p.as_rule() != Rule::EOI);
    let Some(path) = inner.next() else {
        unreachable!("grammar: cli_sweep = path = expr, …")
    };
    let path = b.path(path);
    let mut values = Vec::new();
    for pair in inner {
        values.push(b.expr(pair)?);
    }
    let value = match values.as_slice() {
        [one] if matches!(one.kind, ExprKind::List(_)) => values.remove(0),
        _ => {
            let (start, end) = match (values.first(), values.last()) {
                (Some(a), Some(z)) => (a.span.start, z.span.end),
                _ => (span.end, span.end),
            };
            Expr {
                kind: ExprKind::List(values),
                span: Span { file, start, end },
            }
        }
    };
    Ok(Override { path, value, span })
}

/// Parses a lone expression registered as `file`.
pub fn parse_expr(map: &SourceMap, file: FileId) -> ParseResult<Expr> {
    let top = parse_rule(map, file, Rule::expr_only)?;
    let b = Builder { file };
    match top.into_inner().next() {
        Some(e) => b.expr(e),
        None => unreachable!("grammar: expr_only = expr"),
    }
}

fn parse_rule(map: &SourceMap, file: FileId, rule: Rule) -> ParseResult<Pair<'_, Rule>> {
    let text = map.text(file);
    check_nesting(text, file)?;
    // Literal tokens in "expected …" messages; recipes are small, the cost is negligible.
    pest::set_error_detail(true);
    let cli = matches!(map.file(file).kind, SourceKind::Cli(_));
    let mut pairs = DeitParser::parse(rule, text).map_err(|e| to_diag(&e, text, file, cli))?;
    Ok(pairs
        .next()
        .unwrap_or_else(|| unreachable!("pest returns the top rule")))
}

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg))
    })
}

struct Builder {
    file: FileId,
}

impl Builder {
    fn span_of(file: FileId, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(file, s.start(), s.end())
    }

    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        Self::span_of(self.file, pair)
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn path(&self, pair: Pair<'_, Rule>) -> Path {
        let span = self.span(&pair);
        Path {
            parts: pair.into_inner().map(|p| self.ident(p)).collect(),
            span,
        }
    }

    fn extends(&self, pair: Pair<'_, Rule>) -> ParseResult<Extends> {
        let span = self.span(&pair);
        let Some(string) = pair.into_inner().find(|p| p.as_rule() == Rule::string) else {
            unreachable!("grammar: extends = kw string")
        };
        Ok(Extends {
            path: unescape(string.as_str()),
            path_span: self.span(&string),
            span,
        })
    }

    fn item(&self, pair: Pair<'_, Rule>) -> ParseResult<Item> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let mut next = || {
            inner
                .next()
                .unwrap_or_else(|| unreachable!("grammar: item parts"))
        };
        Ok(match rule {
            Rule::field => {
                // pest's span of a field runs on over trailing whitespace and comments.
                let path = self.path(next());
                let value = self.expr(next())?;
                let span = path.span.to(value.span);
                Item::Field(Field { path, value, span })
            }
            Rule::delete => {
                let _kw = next();
                Item::Delete(Delete {
                    path: self.path(next()),
                    span,
                })
            }
            Rule::block => {
                let name = self.ident(next());
                let items = inner.map(|p| self.item(p)).collect::<ParseResult<_>>()?;
                Item::Block(Block { name, items, span })
            }
            Rule::stage => {
                let _kw = next();
                let name = self.ident(next());
                let mut extends = Vec::new();
                let mut items = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::extends => extends.push(self.extends(p)?),
                        _ => items.push(self.item(p)?),
                    }
                }
                Item::Stage(Stage {
                    name,
                    extends,
                    items,
                    span,
                })
            }
            other => unreachable!("grammar: not an item: {other:?}"),
        })
    }

    fn expr(&self, pair: Pair<'_, Rule>) -> ParseResult<Expr> {
        let span = self.span(&pair);
        let ops = pair
            .clone()
            .into_inner()
            .filter(|p| {
                matches!(
                    p.as_rule(),
                    Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::neg
                )
            })
            .count();
        if ops > MAX_OPERATORS {
            return Err(Box::new(Diag::error(
                ErrorKind::TooComplex { max: MAX_OPERATORS },
                span,
            )));
        }
        pratt()
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = self.span(&op).to(rhs.span);
                Ok(Expr {
                    kind: ExprKind::Neg(Box::new(rhs)),
                    span,
                })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    _ => BinOp::Div,
                };
                Ok(Expr {
                    span: lhs.span.to(rhs.span),
                    kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                })
            })
            .parse(pair.into_inner())
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> ParseResult<Expr> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::number => number(pair.as_str(), span)?,
            Rule::string => ExprKind::Str(unescape(pair.as_str())),
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::none => ExprKind::None,
            Rule::symbol => ExprKind::Symbol(pair.as_str().to_string()),
            Rule::reference => ExprKind::Ref(self.path(pair)),
            Rule::paren | Rule::bound => {
                let inner = self.first_inner(pair)?;
                if inner.span == span {
                    return Ok(inner);
                }
                ExprKind::Paren(Box::new(inner))
            }
            Rule::expr => return self.expr(pair),
            Rule::list => ExprKind::List(
                pair.into_inner()
                    .map(|p| self.expr(p))
                    .collect::<ParseResult<_>>()?,
            ),
            Rule::range => {
                let mut inner = pair.into_inner();
                let mut next = || inner.next().unwrap_or_else(|| unreachable!("range bounds"));
                let (lo, hi) = (next(), next());
                ExprKind::Range(Box::new(self.primary(lo)?), Box::new(self.primary(hi)?))
            }
            Rule::quantity => {
                let mut inner = pair.into_inner();
                let mut next = || inner.next().unwrap_or_else(|| unreachable!("quantity"));
                let (num, unit) = (next(), next());
                let unit_text = unit.as_str().to_string();
                // The pair's own span runs on over the whitespace its `!"="` skipped.
                let span = self.span(&num).to(self.span(&unit));
                let kind = ExprKind::Quantity {
                    value: Box::new(self.primary(num)?),
                    unit: match unit_text.as_str() {
                        "%" => Unit::Percent,
                        "epoch" | "epochs" => Unit::Epochs,
                        "s" => Unit::Seconds,
                        "min" => Unit::Minutes,
                        "h" => Unit::Hours,
                        _ => Unit::Steps,
                    },
                    unit_text,
                };
                return Ok(Expr { kind, span });
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = self.ident(inner.next().unwrap_or_else(|| unreachable!("call name")));
                let args = inner.map(|a| self.arg(a)).collect::<ParseResult<_>>()?;
                ExprKind::Call { name, args }
            }
            other => unreachable!("grammar: not a primary: {other:?}"),
        };
        Ok(Expr { kind, span })
    }

    fn first_inner(&self, pair: Pair<'_, Rule>) -> ParseResult<Expr> {
        match pair.into_inner().next() {
            Some(p) => self.primary(p),
            None => unreachable!("grammar: wrapper without content"),
        }
    }

    fn arg(&self, pair: Pair<'_, Rule>) -> ParseResult<Arg> {
        let mut name = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(p)),
                _ => value = Some(self.expr(p)?),
            }
        }
        Ok(Arg {
            name,
            value: value.unwrap_or_else(|| unreachable!("grammar: arg has a value")),
        })
    }
}

/// `12`, `1_000`, `5e-4`, `20k`, `1.5M`.
fn number(text: &str, span: Span) -> ParseResult<ExprKind> {
    let bad = || {
        Box::new(Diag::error(
            ErrorKind::BadNumber {
                text: text.to_string(),
            },
            span,
        ))
    };
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (digits, scale) = match clean.as_bytes().last() {
        Some(b'k') => (&clean[..clean.len() - 1], 1_000i64),
        Some(b'M') => (&clean[..clean.len() - 1], 1_000_000i64),
        _ => (clean.as_str(), 1),
    };
    let is_float = digits.contains(['.', 'e', 'E']);
    let value = if is_float {
        let v: f64 = digits.parse().map_err(|_| bad())?;
        let v = v * scale as f64;
        if !v.is_finite() {
            return Err(bad());
        }
        if scale > 1 && v.fract() == 0.0 && v.abs() < 9e15 {
            NumValue::Int(v as i64)
        } else {
            NumValue::Float(v)
        }
    } else {
        let v: i64 = digits.parse().map_err(|_| bad())?;
        NumValue::Int(v.checked_mul(scale).ok_or_else(bad)?)
    };
    Ok(ExprKind::Number {
        text: text.to_string(),
        value,
    })
}

/// The contents of a string literal (with its quotes) with escapes resolved.
fn unescape(quoted: &str) -> String {
    let body = quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(quoted);
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}
