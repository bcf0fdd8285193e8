//! `deitc runs [DIR] [--message-format json]`: the runs under a folder of runs (`runs/`
//! by default): recipe, run directory, hash, status, epochs, best validation top-1 and time,
//! and the sweeps among them with their points.

use super::{MessageFormat, Output};
use crate::diag::{Diag, Diagnostics, Severity};
use crate::error::Error;
use crate::report::listing;
use crate::source::SourceMap;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct RunsArgs {
    /// A folder of runs (a recipe's `train.output`), a recipe's runs or a sweep.
    #[arg(default_value = "runs")]
    pub dir: PathBuf,
    /// `json`: one JSON object per run and per sweep.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
}

pub fn run(args: &RunsArgs, out: &mut Output) -> u8 {
    let json = args.message_format == MessageFormat::Json;
    let listed = match listing::list(&args.dir) {
        Ok(l) => l,
        Err(e) => {
            let diags = Diagnostics::global(Error::Report(e));
            let map = SourceMap::new();
            if json {
                out.diagnostics_json(&diags, &map);
            } else {
                out.diagnostics(&diags, &map, "runs");
            }
            return 1;
        }
    };
    let mut problems = Diagnostics::default();
    for e in listed.problems.iter().cloned() {
        let mut d = Diag::global(Error::Report(e));
        d.severity = Severity::Warning;
        problems.push(d);
    }
    if json {
        out.diagnostics_json(&problems, &SourceMap::new());
        for r in &listed.runs {
            out.out(&tagged("run", r));
        }
        for s in &listed.sweeps {
            out.out(&tagged("sweep", s));
        }
    } else if listed.runs.is_empty() {
        out.out(&format!("no runs under `{}`\n", args.dir.display()));
    } else {
        out.out(&listing::table(&listed));
    }
    if !json {
        out.diagnostics(&problems, &SourceMap::new(), "runs");
    }
    0
}

/// `value` as one JSON line, with `"type": kind` added.
fn tagged<T: serde::Serialize>(kind: &str, value: &T) -> String {
    let mut object = serde_json::Map::new();
    object.insert("type".into(), kind.into());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(value) {
        object.extend(fields);
    }
    format!("{}\n", serde_json::Value::Object(object))
}
