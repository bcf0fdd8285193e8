//! Looking at finished and running trainings, apart from the command line: reading run
//! directories and sweeps (`read`), averaging a sweep point's seeds and tabulating top-1
//! (`aggregate`), drawing the figure (`draw`, PNG or SVG through plotters), the HTML page
//! (`html`), and the listing of `deitc runs` (`listing`). `cli/plot.rs` and `cli/runs.rs`
//! are the two commands on top.

pub mod aggregate;
pub mod draw;
mod error;
pub mod html;
pub mod listing;
pub mod read;

pub use aggregate::{Row, Run, Series};
pub use error::ReportError;

use std::path::{Path, PathBuf};

/// What the paths given to `deitc report` hold: the series to draw, the problems that stop
/// the report (`errors`) and the runs left out for having no metrics yet (`skipped`).
#[derive(Debug, Default)]
pub struct Collected {
    pub series: Vec<Series>,
    pub errors: Vec<ReportError>,
    pub skipped: Vec<ReportError>,
    /// How many runs were found, with metrics or not.
    pub runs: usize,
}

/// `runs/digits_vit/002` → `digits_vit/002`: a run as the report names it.
fn run_label(dir: &Path) -> String {
    let mut parts: Vec<String> = dir
        .components()
        .rev()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

/// Reads every path: a run directory, a recipe's runs (its latest run, or each of them
/// with `all`) or a sweep (its points, those differing only in their seed as one series).
pub fn collect(paths: &[PathBuf], all: bool) -> Collected {
    let mut c = Collected::default();
    for path in paths {
        match read::classify(path) {
            Err(e) => c.errors.push(e),
            Ok(read::Target::Run(dir)) => c.add_run(&dir),
            Ok(read::Target::Runs(runs)) => {
                let chosen = if all {
                    &runs[..]
                } else {
                    &runs[runs.len() - 1..]
                };
                for dir in chosen {
                    c.add_run(dir);
                }
            }
            Ok(read::Target::Sweep(root)) => match read::sweep(&root) {
                Ok(sweep) => c.add_sweep(&sweep),
                Err(e) => c.errors.push(e),
            },
        }
    }
    c
}

impl Collected {
    /// The metrics of `dir`, or `None` after noting why there are none.
    fn load(&mut self, dir: &Path, label: String) -> Option<Run> {
        self.runs += 1;
        match read::metrics(dir) {
            Err(e) => {
                self.errors.push(e);
                None
            }
            Ok(m) if m.is_empty() => {
                let path = dir.display().to_string();
                self.skipped.push(ReportError::NoMetrics { path });
                None
            }
            Ok(metrics) => Some(Run { label, metrics }),
        }
    }

    fn add_run(&mut self, dir: &Path) {
        let label = run_label(dir);
        if let Some(run) = self.load(dir, label.clone()) {
            self.series.push(Series {
                label,
                runs: vec![run],
            });
        }
    }

    fn add_sweep(&mut self, sweep: &read::Sweep) {
        let m = &sweep.manifest;
        let values: Vec<_> = m.points.iter().map(|p| &p.values).collect();
        for (group, members) in aggregate::seed_groups(&m.axes, &values) {
            let mut runs = Vec::new();
            for i in members {
                let point = &m.points[i];
                let label = format!("{}/{}", m.name, point.dir);
                match &sweep.runs[i] {
                    Some(dir) => runs.extend(self.load(dir, label)),
                    None => {
                        self.runs += 1;
                        let path = sweep.root.join(&point.dir).display().to_string();
                        self.skipped.push(ReportError::NoMetrics { path });
                    }
                }
            }
            if runs.is_empty() {
                continue;
            }
            let label = if group.is_empty() {
                m.name.clone()
            } else {
                format!("{} {group}", m.name)
            };
            self.series.push(Series { label, runs });
        }
    }

    /// The report's title: what it shows.
    pub fn title(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.series {
            if !names.contains(&s.label.as_str()) {
                names.push(&s.label);
            }
        }
        let mut t = names.join(", ");
        if t.chars().count() > 110 {
            t = t.chars().take(109).collect::<String>() + "…";
        }
        t
    }
}
