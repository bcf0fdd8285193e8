//! Completion from the schema, worked out from the text alone (see `context`): block names
//! at top level, a block's fields less those this file already sets, enum values after `=`,
//! data sources and their named arguments, reference paths after a `.`, a stage's `best` and
//! `last`, and files inside `extends "…"`. Every item carries its docs.

use crate::context::{self, Context};
use crate::hover::field_doc;
use deitc_lang::check::schema::{self, Ty};
use lsp_types::{
    CompletionItem, CompletionItemKind, Documentation, InsertTextFormat, MarkupContent, MarkupKind,
};
use std::path::Path;

/// At most this many files are offered in an `extends` path.
const MAX_FILES: usize = 500;

fn docs(text: String) -> Option<Documentation> {
    Some(Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value: text,
    }))
}

fn item(label: &str, kind: CompletionItemKind, detail: String, doc: String) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail),
        documentation: docs(doc),
        ..CompletionItem::default()
    }
}

pub fn complete(text: &str, offset: usize, path: &Path) -> Vec<CompletionItem> {
    let (ctx, scan) = context::at(text, offset);
    match ctx {
        Context::Statement { block, partial } => {
            let stage = scan.stage();
            let set: Vec<&str> = scan
                .assigned
                .iter()
                .filter(|(_, s)| *s == stage)
                .map(|(p, _)| p.as_str())
                .collect();
            statement(&block, &partial, &set)
        }
        Context::Value { field, .. } => values(&field),
        Context::Reference { partial } => references(&partial, &scan.stages),
        Context::CallArg { call, arg, .. } => call_args(&call, arg.as_deref()),
        Context::ExtendsPath { partial } => files(path, &partial),
        Context::Nothing => Vec::new(),
    }
}

/// Names that may start a statement in `block`, after the dotted part of `partial`.
fn statement(block: &str, partial: &str, set: &[&str]) -> Vec<CompletionItem> {
    let written = partial.rsplit_once('.').map_or("", |(p, _)| p);
    let base = match (block.is_empty(), written.is_empty()) {
        (true, _) => written.to_string(),
        (false, true) => block.to_string(),
        (false, false) => format!("{block}.{written}"),
    };
    let mut out = Vec::new();
    for name in schema::children(&base) {
        let full = if base.is_empty() {
            name.to_string()
        } else {
            format!("{base}.{name}")
        };
        if let Some(f) = schema::field(&full) {
            if set.contains(&f.path) {
                continue;
            }
            let mut i = item(
                name,
                CompletionItemKind::FIELD,
                f.ty.describe(),
                field_doc(f),
            );
            i.insert_text = Some(format!("{name} = "));
            out.push(i);
        } else if let Some(b) = schema::block(&full) {
            let optional = if b.optional { " (optional)" } else { "" };
            out.push(item(
                name,
                CompletionItemKind::MODULE,
                format!("block{optional}"),
                b.doc.to_string(),
            ));
        }
    }
    if block.is_empty() && written.is_empty() {
        for (kw, doc) in [
            ("extends", "`extends \"base.deit\"`: start from another recipe (before any item; paths are relative to this file)."),
            ("delete", "`delete path`: remove a field or an optional block set by a base."),
            ("stage", "`stage name { … }`: one stage of a pipeline, a recipe of its own."),
        ] {
            out.push(item(kw, CompletionItemKind::KEYWORD, "keyword".into(), doc.into()));
        }
    }
    out
}

/// The values `field` takes: its enum names, `true`/`false`, data sources, `none`.
fn values(field: &str) -> Vec<CompletionItem> {
    let Some(f) = schema::field(field) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut ty = &f.ty;
    if let Ty::Opt(inner) = ty {
        out.push(item(
            "none",
            CompletionItemKind::CONSTANT,
            f.path.into(),
            format!("`none`: no value.\n\n{}", field_doc(f)),
        ));
        ty = inner;
    }
    match ty {
        Ty::Enum(names) | Ty::Names(names) => {
            for n in *names {
                out.push(item(
                    n,
                    CompletionItemKind::ENUM_MEMBER,
                    f.path.into(),
                    format!("`{n}`: a value of `{}`.\n\n{}", f.path, field_doc(f)),
                ));
            }
        }
        Ty::Bool => {
            for n in ["true", "false"] {
                out.push(item(
                    n,
                    CompletionItemKind::CONSTANT,
                    f.path.into(),
                    field_doc(f),
                ));
            }
        }
        Ty::Source => out.extend(sources()),
        _ => {}
    }
    out
}

fn sources() -> Vec<CompletionItem> {
    schema::SOURCES
        .iter()
        .map(|(name, usage)| {
            let mut i = item(
                name,
                CompletionItemKind::FUNCTION,
                usage.to_string(),
                format!("data source `{usage}`"),
            );
            i.insert_text = Some(format!("{name}($0)"));
            i.insert_text_format = Some(InsertTextFormat::SNIPPET);
            i
        })
        .collect()
}

/// The named arguments of a data source (`split`, `samples`, …), from its usage line;
/// after `name =`, that argument's values.
fn call_args(call: &str, arg: Option<&str>) -> Vec<CompletionItem> {
    let Some((_, usage)) = schema::SOURCES.iter().find(|(n, _)| *n == call) else {
        return Vec::new();
    };
    let inner = usage
        .split_once('(')
        .and_then(|(_, r)| r.rsplit_once(')'))
        .map_or("", |(a, _)| a);
    let named = inner.split(',').filter_map(|p| {
        let (name, value) = p.split_once('=')?;
        Some((name.trim(), value.trim()))
    });
    let mut out = Vec::new();
    for (name, value) in named {
        match arg {
            Some(a) if a == name => {
                for v in value
                    .split('|')
                    .filter(|v| v.chars().all(|c| c.is_ascii_alphabetic()))
                {
                    out.push(item(
                        v,
                        CompletionItemKind::ENUM_MEMBER,
                        format!("{call}({name} = …)"),
                        format!("`{name} = {v}` in `{usage}`"),
                    ));
                }
            }
            Some(_) => {}
            None => {
                let mut i = item(
                    name,
                    CompletionItemKind::PROPERTY,
                    format!("argument of {call}"),
                    format!("`{name} = {value}` in `{usage}`"),
                );
                i.insert_text = Some(format!("{name} = "));
                out.push(i);
            }
        }
    }
    out
}

/// The names after the dotted prefix of `partial`: fields and blocks, a pipeline's stages
/// after `stage.`, `best` and `last` after `stage.<name>.`.
fn references(partial: &str, stages: &[String]) -> Vec<CompletionItem> {
    let prefix = partial.rsplit_once('.').map_or("", |(p, _)| p);
    if prefix == "stage" {
        return stages
            .iter()
            .map(|s| {
                item(
                    s,
                    CompletionItemKind::CLASS,
                    "stage".into(),
                    format!(
                        "stage `{s}`: its checkpoints are `stage.{s}.best` and `stage.{s}.last`"
                    ),
                )
            })
            .collect();
    }
    if let Some(stage) = prefix.strip_prefix("stage.").filter(|s| !s.contains('.')) {
        return [
            ("best", "the checkpoint with the best validation top-1"),
            ("last", "the final checkpoint"),
        ]
        .iter()
        .map(|(o, doc)| {
            item(
                o,
                CompletionItemKind::VALUE,
                format!("stage.{stage}.{o}"),
                format!("{doc} of stage `{stage}`"),
            )
        })
        .collect();
    }
    schema::children(prefix)
        .into_iter()
        .filter_map(|name| {
            let full = format!("{prefix}.{name}");
            if let Some(f) = schema::field(&full) {
                Some(item(
                    name,
                    CompletionItemKind::FIELD,
                    f.ty.describe(),
                    field_doc(f),
                ))
            } else {
                schema::block(&full).map(|b| {
                    item(
                        name,
                        CompletionItemKind::MODULE,
                        "block".into(),
                        b.doc.into(),
                    )
                })
            }
        })
        .collect()
}

/// Folders and `.deit` files next to `doc` under the folder typed so far.
fn files(doc: &Path, partial: &str) -> Vec<CompletionItem> {
    let dir = doc.parent().unwrap_or(Path::new("."));
    let typed = partial.rsplit_once('/').map_or("", |(d, _)| d);
    let folder = if typed.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(typed)
    };
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten().take(MAX_FILES * 4) {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if p.is_dir() && !name.starts_with('.') {
            out.push(item(
                &format!("{name}/"),
                CompletionItemKind::FOLDER,
                "folder".into(),
                format!("`{}`", p.display()),
            ));
        } else if name.ends_with(".deit") && p != doc {
            out.push(item(
                &name,
                CompletionItemKind::FILE,
                "recipe".into(),
                format!("extends `{}`", p.display()),
            ));
        }
        if out.len() >= MAX_FILES {
            break;
        }
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<String> {
        let at = text.find('|').unwrap_or(text.len());
        let text = text.replace('|', "");
        complete(&text, at, Path::new("/nonexistent/r.deit"))
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn completion_follows_the_schema() {
        let l = labels("model {\n    embed = 1\n    |\n}");
        assert!(
            l.contains(&"depth".to_string()) && !l.contains(&"embed".to_string()),
            "{l:?}"
        );
        let l = labels("|");
        assert!(l.contains(&"model".to_string()) && l.contains(&"extends".to_string()));
        assert_eq!(labels("optimizer.kind = |"), ["adamw", "sgd"]);
        assert!(labels("data.train = |").contains(&"image_folder".to_string()));
        assert_eq!(labels("data.train = cifar10(\"x\", |"), ["split"]);
        assert_eq!(
            labels("data.train = cifar10(\"x\", split = |"),
            ["train", "val"]
        );
        assert!(labels("optimizer.lr = 5e-4 * train.|").contains(&"batch".to_string()));
        assert_eq!(
            labels("stage a { }\nstage b { finetune.from = stage.a.| }"),
            ["best", "last"]
        );
        assert_eq!(
            labels("stage a { }\nstage b { finetune.from = stage.| }"),
            ["a", "b"]
        );
    }
}
