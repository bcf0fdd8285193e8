//! What `deitc runs` lists: every run under a folder of runs (`train.output`), each with its
//! recipe, hash, status, progress, best validation top-1 and time, and the sweeps among
//! them with their points.

use super::read::{self, Manifest};
use super::ReportError;
use crate::train::run_dir;
use std::path::{Path, PathBuf};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A live process holds its lock.
    Running,
    /// It reached the end of its schedule (`summary.json`).
    Finished,
    /// It stopped before the end with a checkpoint: `deitc run --resume` goes on.
    Interrupted,
    /// It stopped before its first checkpoint (an error, or killed early): nothing to resume.
    Failed,
    /// A sweep point with no run yet.
    NotRun,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Interrupted => "interrupted",
            Status::Failed => "failed",
            Status::NotRun => "not run",
        }
    }

    /// The status of the run directory `dir`.
    pub fn of(dir: &Path) -> Status {
        if run_dir::holder(dir).is_some() {
            Status::Running
        } else if run_dir::Summary::read(dir).is_some() {
            Status::Finished
        } else if dir.join("checkpoint.safetensors").is_file() {
            Status::Interrupted
        } else {
            Status::Failed
        }
    }
}

/// One line of the listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Listed {
    /// The recipe's name (from `resolved.ron`, else its folder's).
    pub recipe: String,
    /// The run directory relative to the listed folder (`digits_vit/001`).
    pub run: String,
    /// The first 8 digits of the recipe's hash.
    pub hash: Option<String>,
    pub status: Status,
    /// Epochs logged, and the schedule's length in epochs when known.
    pub epochs: u64,
    pub total_epochs: Option<u64>,
    pub best_top1: Option<f64>,
    pub wall_s: Option<f64>,
    /// The sweep and point it belongs to.
    pub sweep: Option<String>,
    pub point: Option<String>,
}

/// A sweep found in the listed folder.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SweepInfo {
    pub name: String,
    pub dir: String,
    pub axes: Vec<String>,
    pub points: usize,
    /// Points with at least one run.
    pub run: usize,
}

/// Everything under a folder of runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub runs: Vec<Listed>,
    pub sweeps: Vec<SweepInfo>,
    /// Metrics that do not read (their runs are listed without them) and sweeps among the
    /// listed folders whose manifest does not read (left out).
    pub problems: Vec<ReportError>,
}

/// The run directory `dir`, shown as `shown`, and why its metrics do not read (then it is
/// described without them).
pub fn describe(dir: &Path, shown: String) -> (Listed, Option<ReportError>) {
    let (metrics, problem) = match read::metrics(dir) {
        Ok(m) => (m, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let resolved = read::resolved(dir);
    let summary = run_dir::Summary::read(dir);
    let epochs = summary
        .as_ref()
        .map(|s| s.epochs)
        .or_else(|| metrics.last().map(|m| m.epoch))
        .unwrap_or(0);
    let total = resolved.as_ref().and_then(|r| match r.length {
        crate::ir::Duration::Epochs(n) => Some(n),
        crate::ir::Duration::Steps(s) => {
            // Steps per epoch, from the first epoch's line.
            let spe = metrics
                .first()
                .filter(|m| m.epoch > 0)
                .map(|m| m.step / m.epoch)?;
            (spe > 0).then(|| s.div_ceil(spe))
        }
    });
    let best = summary
        .as_ref()
        .and_then(|s| s.best_top1)
        .or_else(|| metrics.iter().filter_map(|m| m.val_top1).reduce(f64::max));
    let folder = dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let listed = Listed {
        recipe: resolved.map_or(folder, |r| r.name),
        run: shown,
        hash: run_dir::recorded_hash(dir).map(|h| h.chars().take(8).collect()),
        status: Status::of(dir),
        epochs,
        total_epochs: total,
        best_top1: best,
        wall_s: metrics.last().map(|m| m.wall_s),
        sweep: None,
        point: None,
    };
    (listed, problem)
}

impl Listing {
    fn push(&mut self, (listed, problem): (Listed, Option<ReportError>)) {
        self.runs.push(listed);
        self.problems.extend(problem);
    }
}

/// `path` relative to `root`, as text.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every run under `root` (a folder of runs, a recipe's runs, a sweep or one run), in the
/// order of their folders' names.
pub fn list(root: &Path) -> Result<Listing, ReportError> {
    if !root.is_dir() {
        let path = root.display().to_string();
        return Err(if root.exists() {
            ReportError::NotARun { path }
        } else {
            ReportError::NotFound { path }
        });
    }
    let mut listing = Listing::default();
    // A run or a sweep named directly is shown from its parent.
    let base = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    if root.join(read::MANIFEST).is_file() {
        add_sweep(&base(root), root, &mut listing)?;
    } else if read::is_run_dir(root) {
        listing.push(describe(root, shown(&base(&base(root)), root)));
    } else if !run_dir::existing(root).is_empty() {
        add_runs(&base(root), root, &mut listing);
    } else {
        let mut children: Vec<PathBuf> = std::fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        children.sort();
        for c in children {
            if c.join(read::MANIFEST).is_file() {
                if let Err(e) = add_sweep(root, &c, &mut listing) {
                    listing.problems.push(e);
                }
            } else {
                add_runs(root, &c, &mut listing);
            }
        }
    }
    Ok(listing)
}

fn add_runs(root: &Path, recipe: &Path, listing: &mut Listing) {
    for d in run_dir::existing(recipe) {
        listing.push(describe(&d, shown(root, &d)));
    }
}

fn add_sweep(root: &Path, dir: &Path, listing: &mut Listing) -> Result<(), ReportError> {
    let sweep = read::sweep(dir)?;
    let Manifest {
        name,
        axes,
        grid,
        points,
    } = &sweep.manifest;
    // The grid's axes (a `zip` as one), else every swept path.
    let axes: Vec<String> = if grid.is_empty() {
        axes.clone()
    } else {
        grid.iter()
            .map(|a| match a.as_slice() {
                [one] => one.clone(),
                zipped => format!("zip({})", zipped.join(", ")),
            })
            .collect()
    };
    let mut run = 0;
    for p in points {
        let point_dir = dir.join(&p.dir);
        let runs = run_dir::existing(&point_dir);
        run += usize::from(!runs.is_empty());
        if runs.is_empty() {
            listing.runs.push(Listed {
                recipe: name.clone(),
                run: shown(root, &point_dir),
                hash: p.hash.as_ref().map(|h| h.chars().take(8).collect()),
                status: Status::NotRun,
                epochs: 0,
                total_epochs: None,
                best_top1: None,
                wall_s: None,
                sweep: Some(name.clone()),
                point: Some(p.dir.clone()),
            });
        }
        for d in runs {
            let (mut l, problem) = describe(&d, shown(root, &d));
            l.sweep = Some(name.clone());
            l.point = Some(p.dir.clone());
            listing.push((l, problem));
        }
    }
    listing.sweeps.push(SweepInfo {
        name: name.clone(),
        dir: shown(root, dir),
        axes,
        points: points.len(),
        run,
    });
    Ok(())
}

/// A duration: `42s`, `3m05s`, `1h02m`.
pub fn wall(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The listing as an aligned table, then a line per sweep.
pub fn table(listing: &Listing) -> String {
    let head = [
        "recipe",
        "run",
        "hash",
        "status",
        "epochs",
        "best top-1",
        "time",
    ];
    let rows: Vec<[String; 7]> = listing
        .runs
        .iter()
        .map(|l| {
            [
                l.recipe.clone(),
                l.run.clone(),
                l.hash.clone().unwrap_or_else(|| "—".into()),
                l.status.word().to_string(),
                if l.status == Status::NotRun {
                    "—".into()
                } else {
                    match l.total_epochs {
                        Some(t) => format!("{}/{t}", l.epochs),
                        None => format!("{}/?", l.epochs),
                    }
                },
                l.best_top1.map_or("—".into(), |v| format!("{v:.4}")),
                l.wall_s.map_or("—".into(), wall),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Numbers right-aligned, words left-aligned.
    let right = [false, false, false, false, true, true, true];
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
            if i > 0 {
                s.push_str("  ");
            }
            if right[i] {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    for s in &listing.sweeps {
        out.push_str(&format!(
            "sweep {} ({}): {} over {}, {} of them run\n",
            s.name,
            s.dir,
            deitc_diag::plural(s.points, "point"),
            if s.axes.is_empty() {
                "no axis".to_string()
            } else {
                s.axes.join(" × ")
            },
            s.run
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(wall(0.4), "0s");
        assert_eq!(wall(42.0), "42s");
        assert_eq!(wall(185.0), "3m05s");
        assert_eq!(wall(3720.0), "1h02m");
    }

    #[test]
    fn a_run_is_running_while_locked_then_interrupted_failed_or_finished() {
        let dir = std::env::temp_dir().join(format!("deitc-listing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        assert_eq!(Status::of(&dir), Status::Failed);
        let lock = run_dir::lock(&dir).expect("lock");
        assert_eq!(Status::of(&dir), Status::Running);
        drop(lock);
        std::fs::write(dir.join("checkpoint.safetensors"), b"x").expect("ckpt");
        assert_eq!(Status::of(&dir), Status::Interrupted);
        run_dir::Summary {
            epochs: 2,
            steps: 8,
            final_top1: Some(0.5),
            best_top1: Some(0.75),
        }
        .write(&dir)
        .expect("summary");
        assert_eq!(Status::of(&dir), Status::Finished);
        let (l, _) = describe(&dir, "x/001".into());
        assert_eq!((l.epochs, l.best_top1), (2, Some(0.75)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
