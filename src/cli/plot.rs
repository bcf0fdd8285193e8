//! `deitc report RUN_OR_SWEEP… [-o report.png|.svg|.html] [--all]`: training loss,
//! validation top-1 and learning rate against the epoch for runs and sweeps (a sweep point's
//! seeds as their mean with a min–max band), and the table of final and best top-1.

use super::Output;
use crate::diag::{Diag, Diagnostics, Severity};
use crate::error::Error;
use crate::report::{self, draw, html, ReportError, Row};
use crate::source::SourceMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Run directories (`runs/<recipe>/<NNN>`), recipes' runs (`runs/<recipe>`: the latest
    /// run) or sweeps (a folder with `sweep.json`).
    #[arg(required = true, value_name = "RUN_OR_SWEEP")]
    pub paths: Vec<PathBuf>,
    /// The file to write, its format by extension: `.png`, `.svg` or `.html` (the SVG and
    /// the table in one page).
    #[arg(short = 'o', long = "output", default_value = "report.png")]
    pub output: PathBuf,
    /// For a recipe's runs, plot every run instead of the latest.
    #[arg(long)]
    pub all: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
    Html,
}

fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" => Some(Format::Png),
        "svg" => Some(Format::Svg),
        "html" | "htm" => Some(Format::Html),
        _ => None,
    }
}

pub fn run(args: &ReportArgs, out: &mut Output) -> u8 {
    let map = SourceMap::new();
    let mut diags: Diagnostics<Error> = Diagnostics::default();
    let fail = |out: &mut Output, mut diags: Diagnostics<Error>, e: Error| {
        diags.push(Diag::global(e));
        out.diagnostics(&diags, &map, "report");
        1
    };
    let path = &args.output;
    let Some(format) = format_of(path) else {
        let path = path.display().to_string();
        return fail(
            out,
            diags,
            Error::Report(ReportError::UnknownFormat { path }),
        );
    };
    let collected = report::collect(&args.paths, args.all);
    for e in collected.skipped.iter().cloned() {
        let mut d = Diag::global(Error::Report(e));
        d.severity = Severity::Warning;
        diags.push(d);
    }
    for e in collected.errors.iter().cloned() {
        diags.push(Diag::global(Error::Report(e)));
    }
    if diags.has_errors() {
        out.diagnostics(&diags, &map, "report");
        return 1;
    }
    if collected.series.is_empty() {
        let runs = collected.runs;
        return fail(
            out,
            diags,
            Error::Report(ReportError::NothingToPlot { runs }),
        );
    }
    let fig = draw::Figure {
        title: collected.title(),
        series: &collected.series,
    };
    let rows: Vec<Row> = collected.series.iter().map(Row::of).collect();
    let bytes = match format {
        Format::Png => draw::png(&fig),
        Format::Svg => draw::svg(&fig).map(String::into_bytes),
        Format::Html => draw::svg(&fig).map(|svg| html::page(&fig.title, &svg, &rows).into_bytes()),
    };
    let size = draw::size(&fig);
    let written = bytes.and_then(|b| super::import::write_output(path, &b));
    if let Err(message) = written {
        let path = path.display().to_string();
        return fail(out, diags, Error::WriteOutput { path, message });
    }
    out.diagnostics(&diags, &map, "report");
    out.out(&report::aggregate::table(&rows));
    let (w, h) = size.unwrap_or_default();
    out.out(&format!(
        "wrote {} ({w}×{h} px, {})\n",
        path.display(),
        if rows.len() == 1 {
            "1 series".to_string()
        } else {
            format!("{} series", rows.len())
        }
    ));
    0
}
