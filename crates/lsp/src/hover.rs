//! Hover: a field's type, range, default, docs, resolved value and where it came from
//! (`deitc explain`'s provenance); a reference's resolved value; a computed value's formula
//! and result; a block's docs; an `extends`'s resolved path; a data source's counts when
//! they are known (never counted here).

use crate::datasets::{Count, Datasets};
use crate::sites::{self, Site, What};
use deitc_lang::check::schema::{self, Ty};
use deitc_lang::check::show_f64;
use deitc_lang::query::{Resolution, Scope};
use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

pub fn hover(
    res: &Resolution,
    sites: &[Site],
    offset: usize,
    datasets: &Datasets,
) -> Option<Hover> {
    let site = sites::at(sites, offset)?;
    let scope = res.scope_at(offset);
    let text = match &site.what {
        What::Field(path) => field(path, scope, res),
        What::Value(path) => value(path, scope, res),
        What::Ref(path) => reference(path, scope, res),
        What::Block(path) => block(path, scope, res),
        What::Delete(path) => match schema::field(path) {
            Some(f) => format!("removes **`{path}`**\n\n{}", field_doc(f)),
            None => block(path, scope, res),
        },
        What::Extends(raw) => {
            let dir = res
                .root
                .and_then(|r| crate::diagnostics::file_path(&res.map, r))
                .and_then(|p| p.parent().map(|d| d.to_path_buf()))
                .unwrap_or_default();
            let target = crate::navigate::normalize(&dir.join(raw));
            let state = if target.is_file() { "" } else { " (not found)" };
            format!("extends **`{}`**{state}", target.display())
        }
        What::Stage(name) => format!("stage **`{name}`** of this pipeline"),
        What::Call(name) => source(name, site, sites, res, datasets),
        What::Symbol { field: path, value } => match schema::field(path) {
            Some(f) => format!("`{value}`: a value of **`{path}`**\n\n{}", field_doc(f)),
            None => format!("`{value}`"),
        },
    };
    let range = {
        let mut loc = crate::diagnostics::Locator::new(&res.map);
        Some(loc.range(site.span))
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range,
    })
}

/// A bound for messages: `∞` for infinity.
fn num(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 {
            "∞".into()
        } else {
            "-∞".into()
        }
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        show_f64(x)
    }
}

/// The allowed range of a type, when it has one.
pub fn bounds(ty: &Ty) -> Option<String> {
    Some(match ty {
        Ty::Int { min, max } => format!("{min}..={max}"),
        Ty::Float {
            min,
            max,
            min_open,
            max_open,
        } => format!(
            "{}{}, {}{}",
            if *min_open { "(" } else { "[" },
            num(*min),
            num(*max),
            if *max_open { ")" } else { "]" }
        ),
        Ty::Range { min, max } => format!("both ends in [{}, {}]", num(*min), num(*max)),
        Ty::Floats { min, max, .. } => format!("each in [{}, {}]", num(*min), num(*max)),
        Ty::Duration { min, .. } if *min > 0 => format!("at least {min}"),
        Ty::Opt(inner) => return bounds(inner),
        _ => return None,
    })
}

/// A schema field's type, range, default and meaning, as Markdown.
pub fn field_doc(f: &schema::Field) -> String {
    let mut s = format!("*{}*", f.ty.describe());
    if let Some(b) = bounds(&f.ty) {
        s += &format!(", {b}");
    }
    s += "\n\n";
    s += f.doc;
    match f.default {
        Some(d) => s += &format!("\n\nDefault: `{d}`"),
        None => s += "\n\nRequired (no default).",
    }
    s
}

/// The value of `path` in `scope` and where it came from.
fn provenance(path: &str, scope: Option<&Scope>, res: &Resolution) -> Option<String> {
    let info = scope?.fields.get(path)?;
    let value = info.value.as_deref().unwrap_or("(does not evaluate)");
    let mut s = match &info.formula {
        Some(f) if f != value => format!("Value: `{f}` = **`{value}`**"),
        _ => format!("Value: **`{value}`**"),
    };
    match &info.set {
        Some(set) => {
            s += &format!(" — set at `{}`", res.map.location(set.statement));
            if let Some(old) = set.replaced {
                s += &format!(", overriding `{}`", res.map.location(old));
            }
        }
        None => s += " — the default",
    }
    Some(s)
}

fn field(path: &str, scope: Option<&Scope>, res: &Resolution) -> String {
    let Some(f) = schema::field(path) else {
        return format!("`{path}` is not a field of the schema");
    };
    let mut s = format!("**`{path}`**: {}", field_doc(f));
    if let Some(p) = provenance(path, scope, res) {
        s += &format!("\n\n{p}");
    }
    s
}

fn value(path: &str, scope: Option<&Scope>, res: &Resolution) -> String {
    match provenance(path, scope, res) {
        Some(p) => format!("**`{path}`**\n\n{p}"),
        None => format!("**`{path}`**"),
    }
}

fn reference(path: &str, scope: Option<&Scope>, res: &Resolution) -> String {
    if let Some(rest) = path.strip_prefix("stage.") {
        let (stage, output) = rest.split_once('.').unwrap_or((rest, ""));
        return format!("the `{output}` checkpoint of stage **`{stage}`** (`best`: the best validation top-1; `last`: the final weights)");
    }
    match provenance(path, scope, res) {
        Some(p) => format!("**`{path}`**\n\n{p}"),
        None => format!("`{path}` does not name a field"),
    }
}

fn block(path: &str, scope: Option<&Scope>, res: &Resolution) -> String {
    let Some(b) = schema::block(path) else {
        return format!("`{path}` is not a block of the schema");
    };
    let mut s = format!("block **`{path}`**\n\n{}", b.doc);
    if b.optional {
        let present = scope.and_then(|s| s.blocks.get(path));
        s += &match present {
            Some(at) => format!("\n\nOptional; present (from `{}`).", res.map.location(*at)),
            None => "\n\nOptional; absent.".to_string(),
        };
    }
    let fields: Vec<&str> = schema::children(path);
    s += &format!(
        "\n\nFields: {}",
        fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

/// A data source: its usage and what is known of its size (only what was already counted).
fn source(
    name: &str,
    site: &Site,
    sites: &[Site],
    res: &Resolution,
    datasets: &Datasets,
) -> String {
    let usage = schema::SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(
            || "unknown data source".to_string(),
            |(_, u)| format!("`{u}`"),
        );
    let mut s = format!("data source **`{name}`**: {usage}");
    // The call as written: the smallest value site around it.
    let call_text = sites
        .iter()
        .filter(|v| {
            matches!(v.what, What::Value(_))
                && v.span.start <= site.span.start
                && site.span.end <= v.span.end
        })
        .min_by_key(|v| v.span.len())
        .map(|v| res.map.slice(v.span).to_string())
        .unwrap_or_default();
    let quoted = call_text.split('"').nth(1).map(|p| format!("{p:?}"));
    let split = if call_text.contains("val") {
        "Val"
    } else {
        "Train"
    };
    let known = datasets.all().into_iter().find(|(key, _)| {
        let path_ok = quoted.as_ref().is_none_or(|q| key.contains(q.as_str()));
        let split_ok = !key.contains("split") || key.contains(split);
        path_ok && split_ok && key.to_lowercase().contains(&name.replace('_', ""))
    });
    let count = match (name, known) {
        ("digits", _) => Some(format!(
            "{} images, 10 classes",
            if split == "Val" {
                deitc_lang::check::dataset::DIGITS_VAL
            } else {
                deitc_lang::check::dataset::DIGITS_TRAIN
            }
        )),
        (_, Some((_, Count::Done(f)))) => Some(match (f.samples, f.classes, &f.missing) {
            (_, _, Some(m)) => format!("not found here: `{m}`"),
            (Some(n), Some(k), None) => format!("{n} images, {k} classes"),
            (Some(n), None, None) => format!("{n} images"),
            _ => "its size is unknown".to_string(),
        }),
        (_, Some((_, Count::Counting))) => Some("counting…".into()),
        _ => None,
    };
    if let Some(c) = count {
        s += &format!("\n\n{c}");
    }
    s
}
