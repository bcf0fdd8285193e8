//! [`ReportError`]: what `deitc report` and `deitc runs` refuse, each with its stable code.

use deitc_diag::{Code, Describe, Description};

/// The help line shared by the errors about what an argument names.
const WHAT_TO_PASS: &str = "pass a run directory (`runs/<recipe>/<NNN>`), a recipe's runs \
    (`runs/<recipe>`: its latest run) or a sweep (a folder with `sweep.json`); `deitc runs` \
    lists them";

/// A failure of reading runs or of choosing the report's output.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportError {
    /// A path on the command line names nothing.
    NotFound { path: String },
    /// A path is neither a run directory, a recipe's runs nor a sweep.
    NotARun { path: String },
    /// A run (or a sweep's point) has no metrics yet: left out of the report (a warning).
    NoMetrics { path: String },
    /// None of the runs named has a metric to plot.
    NothingToPlot { runs: usize },
    /// A metrics file or a sweep manifest that cannot be read (`line`: 1-based, when known).
    Malformed {
        path: String,
        line: Option<usize>,
        message: String,
    },
    /// `-o` names a file whose extension is not `.png`, `.svg` or `.html`.
    UnknownFormat { path: String },
}

impl Describe for ReportError {
    fn describe(&self) -> Description {
        match self {
            ReportError::NotFound { path } => {
                Description::new(Code::ReportNotFound, format!("`{path}` does not exist"))
                    .help(WHAT_TO_PASS)
            }
            ReportError::NotARun { path } => Description::new(
                Code::ReportNotARun,
                format!("`{path}` is not a run directory, a recipe's runs or a sweep"),
            )
            .help(WHAT_TO_PASS),
            ReportError::NoMetrics { path } => Description::new(
                Code::ReportNoMetrics,
                format!("`{path}` has no metrics yet: left out of the report"),
            )
            .help("a run appends a line to `metrics.jsonl` and `metrics.csv` at the end of each epoch"),
            ReportError::NothingToPlot { runs } => Description::new(
                Code::ReportNoMetrics,
                match runs {
                    0 => "nothing to plot: no run was found".to_string(),
                    1 => "nothing to plot: the run has no metrics yet".to_string(),
                    n => format!("nothing to plot: none of the {n} runs has metrics yet"),
                },
            )
            .help("a run appends a line to `metrics.jsonl` and `metrics.csv` at the end of each epoch: report it after its first epoch"),
            ReportError::Malformed {
                path,
                line,
                message,
            } => {
                let at = line.map_or(String::new(), |l| format!(", line {l}"));
                Description::new(
                    Code::ReportMalformed,
                    format!("cannot read `{path}`{at}: {message}"),
                )
                .help("`deitc run` writes this file (a line cut short by a crash is ignored); restore it or move the run away")
            }
            ReportError::UnknownFormat { path } => Description::new(
                Code::ReportUnknownFormat,
                format!("cannot tell which format to write `{path}` in"),
            )
            .help("name the output `….png`, `….svg` or `….html` (a page with the SVG and the table)"),
        }
    }
}
