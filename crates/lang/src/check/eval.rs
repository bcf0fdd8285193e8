//! Evaluating field expressions: arithmetic, quantities, references to other fields (late
//! bound, after all merging), with cycle detection. A field that is not set evaluates its
//! default, itself an expression parsed from `<default>`.

use super::schema;
use super::tree::Tree;
use super::value::{Spanned, Val};
use crate::diag::{suggest, Diag, Diagnostics, ErrorKind};
use crate::source::{SourceKind, SourceMap, Span};
use crate::syntax::ast::{BinOp, Expr, ExprKind, NumValue, Unit};
use crate::syntax::parse_expr;
use std::collections::HashMap;

pub struct Evaluator<'a> {
    pub map: &'a mut SourceMap,
    pub tree: &'a Tree,
    pub diags: &'a mut Diagnostics,
    memo: HashMap<&'static str, Option<Spanned>>,
    /// Fields being evaluated, outermost first, with the span of the reference into each.
    active: Vec<(&'static str, Option<Span>)>,
    /// The pipeline's stage names, for `stage.<name>.best` (empty outside a pipeline).
    pub stages: &'a [String],
}

impl<'a> Evaluator<'a> {
    pub fn new(map: &'a mut SourceMap, tree: &'a Tree, diags: &'a mut Diagnostics) -> Self {
        Evaluator {
            map,
            tree,
            diags,
            memo: HashMap::new(),
            active: Vec::new(),
            stages: &[],
        }
    }

    /// The value of a schema field: as set, or its default. `None` after an error (already
    /// reported) or when a required field is unset.
    pub fn field(&mut self, path: &'static str) -> Option<Spanned> {
        self.field_via(path, None)
    }

    fn field_via(&mut self, path: &'static str, via: Option<Span>) -> Option<Spanned> {
        if let Some(v) = self.memo.get(path) {
            return v.clone();
        }
        if let Some(i) = self.active.iter().position(|(p, _)| *p == path) {
            self.report_cycle(i, path, via);
            return None;
        }
        let expr = match self.tree.fields.get(path) {
            Some(entry) => entry.expr.clone(),
            None => self.default_expr(path)?,
        };
        self.active.push((path, via));
        let v = self.eval(&expr);
        self.active.pop();
        self.memo.insert(path, v.clone());
        v
    }

    /// Reports the cycle `active[i..] → path`, at a reference the user wrote when the one
    /// closing the cycle sits in a built-in default.
    fn report_cycle(&mut self, i: usize, path: &'static str, via: Option<Span>) {
        let mut chain: Vec<String> = self.active[i..]
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        chain.push(path.to_string());
        let Some(via) = via else { return };
        let is_default = |s: &Span| matches!(self.map.file(s.file).kind, SourceKind::Default);
        let user = self.active[i..]
            .iter()
            .rev()
            .filter_map(|(_, v)| *v)
            .find(|s| !is_default(s));
        let d = match (is_default(&via), user) {
            (true, Some(user)) => {
                let owner = self.active.last().map_or(path, |(p, _)| *p);
                Diag::error(ErrorKind::ReferenceCycle { chain }, user)
                    .with_secondary(via, format!("the default of `{owner}` refers back"))
            }
            _ => Diag::error(ErrorKind::ReferenceCycle { chain }, via),
        };
        self.diags.push(d);
    }

    fn default_expr(&mut self, path: &'static str) -> Option<Expr> {
        let text = schema::field(path)?.default?;
        let file = self.map.add("<default>", text, SourceKind::Default);
        match parse_expr(self.map, file) {
            Ok(e) => Some(e),
            Err(d) => {
                self.diags.push(*d);
                None
            }
        }
    }

    fn fail(&mut self, kind: ErrorKind, span: Span) -> Option<Spanned> {
        self.diags.push(Diag::error(kind, span));
        None
    }

    pub fn eval(&mut self, e: &Expr) -> Option<Spanned> {
        let span = e.span;
        let val = match &e.kind {
            ExprKind::Number {
                value: NumValue::Int(i),
                ..
            } => Val::Int(*i),
            ExprKind::Number {
                value: NumValue::Float(f),
                ..
            } => Val::Float(*f),
            ExprKind::Str(s) => Val::Str(s.clone()),
            ExprKind::Bool(b) => Val::Bool(*b),
            ExprKind::None => Val::None,
            ExprKind::Symbol(s) => Val::Sym(s.clone()),
            ExprKind::Paren(inner) => self.eval(inner)?.val,
            ExprKind::Ref(path) => return self.reference(&path.dotted(), span),
            ExprKind::List(items) => {
                let vals: Vec<Option<Spanned>> = items.iter().map(|i| self.eval(i)).collect();
                Val::List(vals.into_iter().collect::<Option<_>>()?)
            }
            ExprKind::Range(lo, hi) => {
                let (l, h) = (self.eval(lo), self.eval(hi));
                let (l, h) = (l?, h?);
                match (l.val.as_f64(), h.val.as_f64()) {
                    (Some(a), Some(b)) => Val::Range(a, b),
                    _ => {
                        let bad = if l.val.as_f64().is_none() { &l } else { &h };
                        return self.fail(
                            ErrorKind::BadOperands {
                                op: "..".into(),
                                left: l.val.kind_name(),
                                right: h.val.kind_name(),
                            },
                            bad.span,
                        );
                    }
                }
            }
            ExprKind::Quantity { value, unit, .. } => {
                let v = self.eval(value)?;
                match v.val.as_f64() {
                    // Times are held in seconds: `1 h + 30 min` is `5400 s`.
                    Some(x) => match unit.seconds() {
                        Some(s) => Val::Qty(x * s, Unit::Seconds),
                        None => Val::Qty(x, *unit),
                    },
                    None => {
                        return self.fail(
                            ErrorKind::BadOperands {
                                op: unit.name().into(),
                                left: v.val.kind_name(),
                                right: "a unit".into(),
                            },
                            v.span,
                        )
                    }
                }
            }
            ExprKind::Call { name, args } => {
                let mut out = Vec::new();
                for a in args {
                    out.push((a.name.clone(), self.eval(&a.value)?));
                }
                Val::Call {
                    name: name.clone(),
                    args: out,
                }
            }
            ExprKind::Neg(inner) => match self.eval(inner)?.val {
                Val::Int(i) => Val::Int(-i),
                Val::Float(f) => Val::Float(-f),
                Val::Qty(v, u) => Val::Qty(-v, u),
                other => {
                    return self.fail(
                        ErrorKind::BadOperands {
                            op: "-".into(),
                            left: other.kind_name(),
                            right: "nothing".into(),
                        },
                        span,
                    )
                }
            },
            ExprKind::Binary(op, l, r) => {
                let (a, b) = (self.eval(l), self.eval(r));
                let (a, b) = (a?, b?);
                match arith(*op, &a.val, &b.val) {
                    Ok(v) => v,
                    Err(ErrorKind::DivisionByZero) => {
                        return self.fail(ErrorKind::DivisionByZero, b.span)
                    }
                    Err(kind) => return self.fail(kind, span),
                }
            }
        };
        Some(Spanned { val, span })
    }

    fn reference(&mut self, path: &str, span: Span) -> Option<Spanned> {
        if let Some(rest) = path.strip_prefix("stage.") {
            return self.stage_output(rest, span);
        }
        if let Some(f) = schema::field(path) {
            let v = self.field_via(f.path, Some(span))?;
            return Some(Spanned { val: v.val, span });
        }
        if schema::block(path).is_some() {
            return self.fail(ErrorKind::ReferenceToBlock { path: path.into() }, span);
        }
        let suggestion = suggest(path, schema::FIELDS.iter().map(|f| f.path));
        self.fail(
            ErrorKind::UnknownReference {
                path: path.into(),
                suggestion,
            },
            span,
        )
    }
}

impl Evaluator<'_> {
    /// `stage.<name>.<output>` (`rest` is `<name>.<output>`): a stage's checkpoint.
    fn stage_output(&mut self, rest: &str, span: Span) -> Option<Spanned> {
        let (stage, output) = rest.split_once('.').unwrap_or((rest, ""));
        if !self.stages.iter().any(|s| s == stage) {
            let suggestion = suggest(stage, self.stages.iter().map(String::as_str));
            return self.fail(
                ErrorKind::UnknownStage {
                    name: stage.into(),
                    stages: self.stages.to_vec(),
                    suggestion,
                },
                span,
            );
        }
        let Some(output) = crate::ir::StageOutput::parse(output) else {
            let suggestion = suggest(output, crate::ir::StageOutput::NAMES);
            return self.fail(
                ErrorKind::StageOutput {
                    stage: stage.into(),
                    output: output.into(),
                    suggestion,
                },
                span,
            );
        };
        Some(Spanned {
            val: Val::Stage {
                stage: stage.into(),
                output,
            },
            span,
        })
    }
}

/// `a op b` over numbers and quantities.
fn arith(op: BinOp, a: &Val, b: &Val) -> Result<Val, ErrorKind> {
    let bad = || ErrorKind::BadOperands {
        op: op.symbol().into(),
        left: a.kind_name(),
        right: b.kind_name(),
    };
    let overflow = || ErrorKind::BadNumber {
        text: format!("{} {} {}", a.show(), op.symbol(), b.show()),
    };
    let finite = |f: f64| {
        if f.is_finite() {
            Ok(Val::Float(f))
        } else {
            Err(overflow())
        }
    };
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => match op {
            BinOp::Add => x.checked_add(*y).map(Val::Int).ok_or_else(overflow),
            BinOp::Sub => x.checked_sub(*y).map(Val::Int).ok_or_else(overflow),
            BinOp::Mul => x.checked_mul(*y).map(Val::Int).ok_or_else(overflow),
            BinOp::Div if *y == 0 => Err(ErrorKind::DivisionByZero),
            BinOp::Div if x % y == 0 => Ok(Val::Int(x / y)),
            BinOp::Div => finite(*x as f64 / *y as f64),
        },
        (Val::Qty(x, u), Val::Qty(y, v)) if u == v => match op {
            BinOp::Add => Ok(Val::Qty(x + y, *u)),
            BinOp::Sub => Ok(Val::Qty(x - y, *u)),
            BinOp::Div if *y == 0.0 => Err(ErrorKind::DivisionByZero),
            BinOp::Div => finite(x / y),
            BinOp::Mul => Err(bad()),
        },
        (Val::Qty(x, u), n) if n.as_f64().is_some() => {
            let n = n.as_f64().unwrap_or_default();
            match op {
                BinOp::Mul => Ok(Val::Qty(x * n, *u)),
                BinOp::Div if n == 0.0 => Err(ErrorKind::DivisionByZero),
                BinOp::Div => Ok(Val::Qty(x / n, *u)),
                _ => Err(bad()),
            }
        }
        (n, Val::Qty(x, u)) if n.as_f64().is_some() && op == BinOp::Mul => {
            Ok(Val::Qty(x * n.as_f64().unwrap_or_default(), *u))
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => match op {
                BinOp::Add => finite(x + y),
                BinOp::Sub => finite(x - y),
                BinOp::Mul => finite(x * y),
                BinOp::Div if y == 0.0 => Err(ErrorKind::DivisionByZero),
                BinOp::Div => finite(x / y),
            },
            _ => Err(bad()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_division_stays_integral_only_when_exact() {
        assert_eq!(
            arith(BinOp::Div, &Val::Int(768), &Val::Int(64)),
            Ok(Val::Int(12))
        );
        assert_eq!(
            arith(BinOp::Div, &Val::Int(1), &Val::Int(2)),
            Ok(Val::Float(0.5))
        );
        assert_eq!(
            arith(BinOp::Div, &Val::Int(1), &Val::Int(0)),
            Err(ErrorKind::DivisionByZero)
        );
    }

    #[test]
    fn quantities_scale_and_add_within_a_unit() {
        let e = Val::Qty(300.0, Unit::Epochs);
        assert_eq!(
            arith(BinOp::Mul, &Val::Int(2), &e),
            Ok(Val::Qty(600.0, Unit::Epochs))
        );
        assert_eq!(arith(BinOp::Add, &e, &e), Ok(Val::Qty(600.0, Unit::Epochs)));
        assert!(arith(BinOp::Add, &e, &Val::Qty(1.0, Unit::Steps)).is_err());
        assert!(arith(BinOp::Add, &e, &Val::Qty(1.0, Unit::Seconds)).is_err());
    }
}
