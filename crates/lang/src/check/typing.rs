//! Checking an evaluated value against its field's type and range, and normalising it
//! (ints widened to floats, `25%` to 0.25, source calls to `ir::Source`).

use super::schema::{Ty, SOURCES};
use super::value::{show_f64, Spanned, Val};
use crate::diag::{suggest, Diag, ErrorKind};
use crate::ir::{Source, Split};
use crate::source::Span;
use crate::syntax::ast::Unit;

type Typed = Result<Val, Box<Diag>>;

fn err(kind: ErrorKind, span: Span) -> Box<Diag> {
    Box::new(Diag::error(kind, span))
}

/// Checks `v` (the value of `path`) against `ty`.
/// The fields that take an earlier stage's checkpoint (`stage.teacher.best`).
pub const STAGE_FIELDS: [&str; 2] = ["distill.teacher.checkpoint", "finetune.from"];

pub fn coerce(path: &str, ty: &Ty, v: &Spanned) -> Typed {
    let mismatch = || {
        err(
            ErrorKind::TypeMismatch {
                path: path.into(),
                expected: ty.describe(),
                found: v.val.kind_name(),
            },
            v.span,
        )
    };
    match (ty, &v.val) {
        (Ty::Opt(_), Val::None) => Ok(Val::None),
        (Ty::Opt(inner), _) => coerce(path, inner, v),
        (Ty::Int { min, max }, _) => {
            let i = integer(path, v)?.ok_or_else(mismatch)?;
            in_range(
                path,
                i as f64,
                *min as f64,
                *max as f64,
                false,
                false,
                v.span,
                || i.to_string(),
            )?;
            Ok(Val::Int(i))
        }
        (
            Ty::Float {
                min,
                max,
                min_open,
                max_open,
            },
            _,
        ) => {
            let x = match &v.val {
                Val::Qty(p, Unit::Percent) if *max <= 1.0 => p / 100.0,
                other => other.as_f64().ok_or_else(mismatch)?,
            };
            in_range(path, x, *min, *max, *min_open, *max_open, v.span, || {
                if matches!(v.val, Val::Qty(..)) {
                    v.val.show()
                } else {
                    show_f64(x)
                }
            })?;
            Ok(Val::Float(x))
        }
        (Ty::Bool, Val::Bool(b)) => Ok(Val::Bool(*b)),
        (Ty::Str, Val::Str(s)) => Ok(Val::Str(s.clone())),
        (Ty::Str, Val::Stage { .. }) if STAGE_FIELDS.contains(&path) => Ok(v.val.clone()),
        (Ty::Enum(names), Val::Sym(s)) => variant(path, names, s, v.span),
        (Ty::Enum(names), Val::None) if names.contains(&"none") => Ok(Val::Sym("none".into())),
        (Ty::Range { min, max }, Val::Range(lo, hi)) => {
            for x in [lo, hi] {
                in_range(path, *x, *min, *max, false, false, v.span, || show_f64(*x))?;
            }
            if lo > hi {
                return Err(err(
                    ErrorKind::EmptyRange {
                        path: path.into(),
                        lo: show_f64(*lo),
                        hi: show_f64(*hi),
                    },
                    v.span,
                ));
            }
            Ok(Val::Range(*lo, *hi))
        }
        (Ty::Floats { len, min, max }, Val::List(items)) => {
            if let Some(n) = len.filter(|n| *n != items.len()) {
                return Err(err(
                    ErrorKind::ListLength {
                        path: path.into(),
                        expected: n,
                        found: items.len(),
                    },
                    v.span,
                ));
            }
            let elem = Ty::Float {
                min: *min,
                max: *max,
                min_open: false,
                max_open: false,
            };
            let out = items
                .iter()
                .map(|i| {
                    Ok(Spanned {
                        val: coerce(path, &elem, i)?,
                        span: i.span,
                    })
                })
                .collect::<Result<_, Box<Diag>>>()?;
            Ok(Val::List(out))
        }
        (Ty::Names(names), Val::List(items)) => {
            let mut out = Vec::new();
            for i in items {
                let Val::Sym(s) = &i.val else {
                    return Err(err(
                        ErrorKind::TypeMismatch {
                            path: path.into(),
                            expected: ty.describe(),
                            found: i.val.kind_name(),
                        },
                        i.span,
                    ));
                };
                out.push(Spanned {
                    val: variant(path, names, s, i.span)?,
                    span: i.span,
                });
            }
            Ok(Val::List(out))
        }
        (Ty::Duration { percent, time, min }, _) => {
            duration(path, *percent, *time, *min, v).map_err(|e| e.unwrap_or_else(mismatch))
        }
        (Ty::Source, Val::Call { name, args }) => {
            let split = if path.ends_with("train") {
                Split::Train
            } else {
                Split::Val
            };
            source(&name.name, name.span, args, split, v.span).map(Val::Source)
        }
        _ => Err(mismatch()),
    }
}

/// An integral value, or `Ok(None)` if `v` is not a number at all.
fn integer(path: &str, v: &Spanned) -> Result<Option<i64>, Box<Diag>> {
    match v.val {
        Val::Int(i) => Ok(Some(i)),
        Val::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Val::Float(f) => Err(err(
            ErrorKind::NotInteger {
                path: path.into(),
                value: show_f64(f),
            },
            v.span,
        )),
        _ => Ok(None),
    }
}

#[allow(clippy::too_many_arguments)]
fn in_range(
    path: &str,
    x: f64,
    min: f64,
    max: f64,
    min_open: bool,
    max_open: bool,
    span: Span,
    show: impl Fn() -> String,
) -> Result<(), Box<Diag>> {
    let low_ok = if min_open { x > min } else { x >= min };
    let high_ok = if max_open { x < max } else { x <= max };
    if low_ok && high_ok && !x.is_nan() {
        return Ok(());
    }
    let bound = |b: f64| {
        if b.is_infinite() {
            "∞".to_string()
        } else if b.fract() == 0.0 && b.abs() < 1e12 {
            format!("{}", b as i64)
        } else {
            show_f64(b)
        }
    };
    let range = format!(
        "{}{}, {}{}",
        if min_open { "(" } else { "[" },
        bound(min),
        bound(max),
        if max_open { ")" } else { "]" }
    );
    Err(err(
        ErrorKind::OutOfRange {
            path: path.into(),
            value: show(),
            range,
        },
        span,
    ))
}

fn variant(path: &str, names: &[&str], s: &str, span: Span) -> Typed {
    if names.contains(&s) {
        return Ok(Val::Sym(s.to_string()));
    }
    Err(err(
        ErrorKind::UnknownVariant {
            path: path.into(),
            value: s.into(),
            variants: names.iter().map(|n| n.to_string()).collect(),
            suggestion: suggest(s, names.iter().copied()),
        },
        span,
    ))
}

/// `300 epochs`, `1k steps`, `5%`, and with `time` `30 min` (held in seconds): `Err(None)`
/// means "not a duration at all".
fn duration(
    path: &str,
    percent: bool,
    time: bool,
    min: u64,
    v: &Spanned,
) -> Result<Val, Option<Box<Diag>>> {
    let expected = match (percent, time) {
        (true, _) => "epochs, steps or % of the length",
        (false, true) => "epochs, steps or a time (s, min, h)",
        (false, false) => "epochs or steps",
    };
    match &v.val {
        Val::Qty(x, unit) => {
            let wrong = match unit {
                Unit::Percent if !percent => Some("%"),
                Unit::Seconds | Unit::Minutes | Unit::Hours if !time => Some("time (s, min, h)"),
                _ => None,
            };
            if let Some(wrong) = wrong {
                return Err(Some(err(
                    ErrorKind::WrongUnit {
                        path: path.into(),
                        unit: wrong.into(),
                        expected: expected.into(),
                    },
                    v.span,
                )));
            }
            if *unit == Unit::Percent {
                in_range(path, *x, 0.0, 100.0, false, false, v.span, || v.val.show())
                    .map_err(Some)?;
            } else if *x < min as f64 || *x > 1e12 {
                let kind = ErrorKind::OutOfRange {
                    path: path.into(),
                    value: v.val.show(),
                    range: format!("[{min} {}, ∞)", unit.name()),
                };
                return Err(Some(err(kind, v.span)));
            }
            if *unit != Unit::Percent && x.fract() != 0.0 {
                return Err(Some(err(
                    ErrorKind::NotInteger {
                        path: path.into(),
                        value: v.val.show(),
                    },
                    v.span,
                )));
            }
            Ok(Val::Qty(*x, *unit))
        }
        Val::Int(_) | Val::Float(_) => Err(Some(err(
            ErrorKind::MissingUnit {
                path: path.into(),
                value: v.val.show(),
                units: "epochs".into(),
            },
            v.span,
        ))),
        _ => Err(None),
    }
}

/// Checks a source call's name and arguments.
fn source(
    name: &str,
    name_span: Span,
    args: &[(Option<crate::syntax::ast::Ident>, Spanned)],
    default_split: Split,
    span: Span,
) -> Result<Source, Box<Diag>> {
    let Some((_, usage)) = SOURCES.iter().find(|(n, _)| *n == name) else {
        return Err(err(
            ErrorKind::UnknownFunction {
                name: name.into(),
                suggestion: suggest(name, SOURCES.iter().map(|(n, _)| *n)),
            },
            name_span,
        ));
    };
    let bad = |problem: String, at: Span| {
        err(
            ErrorKind::BadArguments {
                function: name.into(),
                problem,
                usage: usage.to_string(),
            },
            at,
        )
    };
    // Positional arguments first (only a path is positional), then named ones.
    let positional_name = match name {
        "image_folder" | "cifar10" | "cifar100" | "fashion_mnist" | "mnist" => Some("path"),
        _ => None,
    };
    let allowed: &[&str] = match name {
        "image_folder" => &["path"],
        "cifar10" | "cifar100" | "fashion_mnist" | "mnist" => &["path", "split"],
        "digits" => &["split"],
        _ => &["samples", "classes", "seed"],
    };
    let mut named: Vec<(&str, &Spanned)> = Vec::new();
    for (i, (arg_name, value)) in args.iter().enumerate() {
        let key = match arg_name {
            Some(id) => {
                let Some(k) = allowed.iter().find(|a| **a == id.name) else {
                    let dym = suggest(&id.name, allowed.iter().copied())
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(bad(
                        format!("no argument named `{}`{dym}", id.name),
                        id.span,
                    ));
                };
                *k
            }
            None if i == 0 && positional_name.is_some() => positional_name.unwrap_or("path"),
            None => return Err(bad("unexpected positional argument".into(), value.span)),
        };
        if named.iter().any(|(k, _)| *k == key) {
            return Err(bad(format!("`{key}` is given twice"), value.span));
        }
        named.push((key, value));
    }
    let get = |k: &str| named.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let path = || -> Result<String, Box<Diag>> {
        match get("path") {
            Some(Spanned {
                val: Val::Str(s), ..
            }) => Ok(s.clone()),
            Some(other) => Err(bad(
                format!("`path` must be a string, found {}", other.val.kind_name()),
                other.span,
            )),
            None => Err(bad("missing the dataset path".into(), span)),
        }
    };
    let split = || -> Result<Split, Box<Diag>> {
        match get("split") {
            None => Ok(default_split),
            Some(Spanned {
                val: Val::Sym(s), ..
            }) if s == "train" => Ok(Split::Train),
            Some(Spanned {
                val: Val::Sym(s), ..
            }) if s == "val" => Ok(Split::Val),
            Some(other) => Err(bad(
                format!(
                    "`split` must be `train` or `val`, found `{}`",
                    other.val.show()
                ),
                other.span,
            )),
        }
    };
    let count = |k: &str, default: i64, min: i64| -> Result<i64, Box<Diag>> {
        match get(k) {
            None => Ok(default),
            Some(Spanned {
                val: Val::Int(i), ..
            }) if *i >= min && *i <= i64::from(u32::MAX) => Ok(*i),
            Some(other) => Err(bad(
                format!(
                    "`{k}` must be a whole number ≥ {min}, found {}",
                    other.val.show()
                ),
                other.span,
            )),
        }
    };
    Ok(match name {
        "image_folder" => Source::ImageFolder { path: path()? },
        "cifar10" => Source::Cifar10 {
            path: path()?,
            split: split()?,
        },
        "cifar100" => Source::Cifar100 {
            path: path()?,
            split: split()?,
        },
        "fashion_mnist" => Source::FashionMnist {
            path: path()?,
            split: split()?,
        },
        "mnist" => Source::Mnist {
            path: path()?,
            split: split()?,
        },
        "digits" => Source::Digits { split: split()? },
        _ => Source::Synthetic {
            samples: count("samples", 512, 1)? as usize,
            classes: count("classes", 10, 1)? as usize,
            seed: count("seed", 0, 0)? as u64,
        },
    })
}

#[cfg(test)]
mod tests {
    use crate::check::{check, BuildFacts};
    use crate::ir::Every;

    /// Checks a small valid recipe with `extra` appended; the recipe's `checkpoint_every`
    /// or the codes of its errors.
    fn checked(extra: &str) -> Result<Every, Vec<String>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "deitc-lang-every-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("every.deit");
        let text = format!(
            "model {{\n    embed = 64\n    depth = 2\n    heads = 2\n    patch = 4\n    image = 16\n}}\n\
             data {{\n    train = synthetic()\n    val = synthetic()\n}}\ntrain.batch = 64\n{extra}\n"
        );
        std::fs::write(&path, text).expect("write recipe");
        let c = check(&path, &[], &BuildFacts::default());
        let _ = std::fs::remove_dir_all(&dir);
        match c.recipe {
            Some(r) if !c.diags.has_errors() => Ok(r.train.checkpoint_every),
            _ => Err(c
                .diags
                .items
                .iter()
                .map(|d| deitc_diag::Describe::code(&d.kind).to_string())
                .collect()),
        }
    }

    #[test]
    fn checkpoint_every_takes_epochs_steps_and_times() {
        for (text, every) in [
            ("train.checkpoint_every = 2 epochs", Every::Epochs(2)),
            ("train.checkpoint_every = 500 steps", Every::Steps(500)),
            ("train.checkpoint_every = 90 s", Every::Seconds(90)),
            ("train.checkpoint_every = 30 min", Every::Seconds(1800)),
            ("train.checkpoint_every = 2h", Every::Seconds(7200)),
            (
                "train.checkpoint_every = 1 h + 30 min",
                Every::Seconds(5400),
            ),
            ("train.checkpoint_every = 1.5 min", Every::Seconds(90)),
            // `min_lr` after a number is a field, not a unit.
            (
                "train.checkpoint_every = 3\nschedule.min_lr = 1e-6",
                Every::Seconds(0),
            ),
        ] {
            let got = checked(text);
            if every == Every::Seconds(0) {
                assert_eq!(
                    got,
                    Err(vec!["deit::type::missing_unit".to_string()]),
                    "{text}"
                );
            } else {
                assert_eq!(got, Ok(every), "{text}");
            }
        }
        assert_eq!(checked(""), Ok(Every::Epochs(1)));
    }

    #[test]
    fn times_are_refused_where_a_length_is_needed_and_checked_like_counts() {
        for (text, code) in [
            ("schedule.length = 2 h", "deit::type::wrong_unit"),
            ("train.eval_every = 30 min", "deit::type::wrong_unit"),
            ("schedule.warmup = 90 s", "deit::type::wrong_unit"),
            ("train.checkpoint_every = 5%", "deit::type::wrong_unit"),
            ("train.checkpoint_every = 0 s", "deit::value::out_of_range"),
            ("train.checkpoint_every = 1.5 s", "deit::value::not_integer"),
            (
                "train.checkpoint_every = 1 h + 1 step",
                "deit::expr::bad_operands",
            ),
            ("optimizer.lr = 30 min", "deit::type::mismatch"),
        ] {
            let codes = checked(text).expect_err(text);
            assert_eq!(codes, [code], "{text}");
        }
    }
}
