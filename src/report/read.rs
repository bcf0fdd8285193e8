//! Reading what `deitc run` leaves on disk: which kind of folder a path names (a run, a
//! recipe's runs, a sweep), a run's per-epoch metrics (`metrics.jsonl`, else `metrics.csv`)
//! and a sweep's manifest (`sweep.json`).

use super::ReportError;
use crate::train::metrics::EpochMetrics;
use crate::train::run_dir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest a sweep writes at its root.
pub const MANIFEST: &str = "sweep.json";

/// What a path given to `deitc report` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// One run directory (`runs/<recipe>/<NNN>`).
    Run(PathBuf),
    /// A recipe's runs (`runs/<recipe>`): its numbered run directories, in order.
    Runs(Vec<PathBuf>),
    /// A sweep's root (it holds `sweep.json`).
    Sweep(PathBuf),
}

/// Whether `dir` is a run directory: `deitc run` wrote its `resolved.ron` or metrics there.
pub fn is_run_dir(dir: &Path) -> bool {
    ["resolved.ron", "metrics.jsonl", "metrics.csv"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

/// What `path` names, or why it names nothing to report.
pub fn classify(path: &Path) -> Result<Target, ReportError> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(ReportError::NotFound { path: shown });
    }
    if !path.is_dir() {
        return Err(ReportError::NotARun { path: shown });
    }
    if path.join(MANIFEST).is_file() {
        return Ok(Target::Sweep(path.to_path_buf()));
    }
    if is_run_dir(path) {
        return Ok(Target::Run(path.to_path_buf()));
    }
    let runs = run_dir::existing(path);
    if runs.is_empty() {
        return Err(ReportError::NotARun { path: shown });
    }
    Ok(Target::Runs(runs))
}

/// The epochs a run has logged, in order: `metrics.jsonl`, else `metrics.csv`, else none.
/// A last line without its line end (a crash while appending) is left out, as `--resume`
/// drops it; any other line that does not parse is an error.
pub fn metrics(dir: &Path) -> Result<Vec<EpochMetrics>, ReportError> {
    let jsonl = dir.join("metrics.jsonl");
    if jsonl.is_file() {
        return parse_lines(&jsonl, false, &|line, _| {
            serde_json::from_str::<EpochMetrics>(line).map_err(|e| e.to_string())
        });
    }
    let csv = dir.join("metrics.csv");
    if csv.is_file() {
        let text = read_text(&csv)?;
        let header: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
        return parse_lines(&csv, true, &|line, _| csv_row(&header, line));
    }
    Ok(Vec::new())
}

fn read_text(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|e| ReportError::Malformed {
        path: path.display().to_string(),
        line: None,
        message: e.to_string(),
    })
}

/// Each whole, non-empty line of `path` (after the header, when `header`) through `parse`.
fn parse_lines(
    path: &Path,
    header: bool,
    parse: &dyn Fn(&str, usize) -> Result<EpochMetrics, String>,
) -> Result<Vec<EpochMetrics>, ReportError> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if (header && i == 0) || !line.ends_with('\n') || line.trim().is_empty() {
            continue;
        }
        let m = parse(line.trim_end(), i + 1).map_err(|message| ReportError::Malformed {
            path: path.display().to_string(),
            line: Some(i + 1),
            message,
        })?;
        out.push(m);
    }
    Ok(out)
}

/// One row of `metrics.csv`, by the names of its header (an empty cell is a missing value).
fn csv_row(header: &[&str], line: &str) -> Result<EpochMetrics, String> {
    let cells: Vec<&str> = line.split(',').collect();
    if cells.len() != header.len() {
        return Err(format!(
            "{} values for the {} columns of the header",
            cells.len(),
            header.len()
        ));
    }
    let cell = |name: &str| -> Result<Option<f64>, String> {
        let Some(i) = header.iter().position(|h| h.trim() == name) else {
            return Ok(None);
        };
        let v = cells[i].trim();
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<f64>()
            .map(Some)
            .map_err(|_| format!("`{v}` in column `{name}` is not a number"))
    };
    let need = |name: &str| -> Result<f64, String> {
        cell(name)?.ok_or_else(|| format!("no value in column `{name}`"))
    };
    let whole = |name: &str| -> Result<u64, String> {
        let v = need(name)?;
        if v >= 0.0 && v.fract() == 0.0 {
            Ok(v as u64)
        } else {
            Err(format!("`{v}` in column `{name}` is not a count"))
        }
    };
    Ok(EpochMetrics {
        epoch: whole("epoch")?,
        step: cell("step")?.map_or(0, |v| v as u64),
        lr: need("lr")?,
        train_loss: need("train_loss")?,
        val_top1: cell("val_top1")?,
        val_top5: cell("val_top5")?,
        val_loss: cell("val_loss")?,
        ema_top1: cell("ema_top1")?,
        img_per_s: cell("img_per_s")?.unwrap_or(0.0),
        wall_s: cell("wall_s")?.unwrap_or(0.0),
    })
}

/// A sweep's `sweep.json`: its name, the axes it varies and one entry per point (fields
/// beyond these are ignored).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub axes: Vec<String>,
    /// The paths of each axis of the grid (several for a `zip`); older manifests lack it.
    #[serde(default)]
    pub grid: Vec<Vec<String>>,
    pub points: Vec<Point>,
}

/// One point of a sweep: the folder of its runs (under the sweep's root), the text of its
/// value on each axis, and the hash of its resolved recipe.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Point {
    pub dir: String,
    #[serde(default, deserialize_with = "texts")]
    pub values: BTreeMap<String, String>,
    #[serde(default)]
    pub hash: Option<String>,
}

/// Values as their text: a string as it is, a number (or anything else) as JSON writes it.
fn texts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, serde_json::Value> = serde::Deserialize::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

/// A sweep read from its root: the manifest, and for each point the run that stands for it
/// (`None`: not run yet).
#[derive(Debug, Clone)]
pub struct Sweep {
    pub root: PathBuf,
    pub manifest: Manifest,
    pub runs: Vec<Option<PathBuf>>,
}

/// Reads the sweep at `root`. Each point's run is its latest run of the point's recipe (the
/// hash in `resolved.ron` equal to the manifest's), else its latest run.
pub fn sweep(root: &Path) -> Result<Sweep, ReportError> {
    let path = root.join(MANIFEST);
    let malformed = |message: String, line| ReportError::Malformed {
        path: path.display().to_string(),
        line,
        message,
    };
    let text = read_text(&path)?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| malformed(format!("{e}"), Some(e.line()).filter(|&l| l > 0)))?;
    let mut runs = Vec::with_capacity(manifest.points.len());
    for p in &manifest.points {
        let mut parts = Path::new(&p.dir).components();
        let plain = matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        );
        if !plain {
            return Err(malformed(
                format!("the point folder `{}` is not a folder name", p.dir),
                None,
            ));
        }
        let all = run_dir::existing(&root.join(&p.dir));
        let same = all
            .iter()
            .rev()
            .find(|d| p.hash.is_some() && run_dir::recorded_hash(d) == p.hash);
        runs.push(same.or(all.last()).cloned());
    }
    Ok(Sweep {
        root: root.to_path_buf(),
        manifest,
        runs,
    })
}

/// What a run directory says of its recipe: its name and its length in epochs, read from
/// `resolved.ron` (only these fields, so that a run of an older deitc still reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub name: String,
    pub length: crate::ir::Duration,
}

/// The name and length of the recipe recorded in `dir`'s `resolved.ron`, if it reads.
pub fn resolved(dir: &Path) -> Option<Resolved> {
    #[derive(serde::Deserialize)]
    struct Schedule {
        length: crate::ir::Duration,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        name: String,
        schedule: Schedule,
    }
    let text = std::fs::read_to_string(dir.join("resolved.ron")).ok()?;
    let head: Head = ron::from_str(&text).ok()?;
    Some(Resolved {
        name: head.name,
        length: head.schedule.length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("deitc-report-read-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn epoch(epoch: u64, top1: Option<f64>) -> EpochMetrics {
        EpochMetrics {
            epoch,
            step: epoch * 4,
            lr: 1e-3 / epoch as f64,
            train_loss: 2.0 / epoch as f64,
            val_top1: top1,
            val_top5: None,
            val_loss: None,
            ema_top1: None,
            img_per_s: 100.0,
            wall_s: epoch as f64,
        }
    }

    #[test]
    fn jsonl_and_csv_written_by_a_run_read_back_the_same() {
        let dir = temp("both");
        let written = [epoch(1, Some(0.25)), epoch(2, None), epoch(3, Some(0.5))];
        for m in &written {
            m.append(&dir).expect("append");
        }
        assert_eq!(metrics(&dir).expect("jsonl"), written);
        std::fs::remove_file(dir.join("metrics.jsonl")).expect("rm");
        // The CSV keeps six decimals and the lr in full.
        let csv = metrics(&dir).expect("csv");
        assert_eq!(csv.len(), 3);
        assert_eq!(csv[1].val_top1, None);
        assert_eq!(csv[2].val_top1, Some(0.5));
        assert!((csv[0].lr - 1e-3).abs() < 1e-12 && csv[0].step == 4);
        assert!((csv[2].train_loss - 2.0 / 3.0).abs() < 1e-6);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_a_bad_line_is_an_error_with_its_number() {
        let dir = temp("torn");
        epoch(1, Some(0.1)).append(&dir).expect("append");
        let mut text = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("read");
        std::fs::write(
            dir.join("metrics.jsonl"),
            format!("{text}{{\"epoch\":2,\"st"),
        )
        .expect("write");
        assert_eq!(metrics(&dir).expect("torn").len(), 1);
        text.push_str("not json\n");
        std::fs::write(dir.join("metrics.jsonl"), &text).expect("write");
        match metrics(&dir) {
            Err(ReportError::Malformed { line, path, .. }) => {
                assert_eq!(line, Some(2));
                assert!(path.ends_with("metrics.jsonl"), "{path}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(dir.join("metrics.jsonl")).expect("rm");
        std::fs::write(
            dir.join("metrics.csv"),
            "epoch,step,lr,train_loss,val_top1\n1,4,1e-3,x,0.5\n",
        )
        .expect("write");
        let err = metrics(&dir).expect_err("bad cell");
        assert!(
            matches!(&err, ReportError::Malformed { line: Some(2), message, .. }
                if message.contains("`x` in column `train_loss`")),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn paths_are_classified_as_runs_recipes_and_sweeps() {
        let root = temp("classify");
        let recipe = root.join("tiny");
        for n in ["001", "002", "010"] {
            std::fs::create_dir_all(recipe.join(n)).expect("mkdir");
            std::fs::write(recipe.join(n).join("resolved.ron"), "// hash 0\n()").expect("ron");
        }
        assert_eq!(
            classify(&recipe),
            Ok(Target::Runs(vec![
                recipe.join("001"),
                recipe.join("002"),
                recipe.join("010")
            ]))
        );
        assert_eq!(
            classify(&recipe.join("002")),
            Ok(Target::Run(recipe.join("002")))
        );
        std::fs::write(root.join("sweep.json"), "{}").expect("manifest");
        assert_eq!(classify(&root), Ok(Target::Sweep(root.clone())));
        assert!(matches!(
            classify(&root.join("nope")),
            Err(ReportError::NotFound { .. })
        ));
        assert!(matches!(
            classify(&root.join("sweep.json")),
            Err(ReportError::NotARun { .. })
        ));
        std::fs::create_dir_all(root.join("empty")).expect("mkdir");
        assert!(matches!(
            classify(&root.join("empty")),
            Err(ReportError::NotARun { .. })
        ));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_sweep_point_stands_for_its_latest_run_of_the_manifests_hash() {
        let root = temp("sweep");
        let manifest = r#"{ "name": "table3", "axes": ["optimizer.lr", "train.seed"], "extra": 1,
            "points": [
              { "dir": "lr=5e-4,seed=1", "values": { "optimizer.lr": "5e-4", "train.seed": 1 }, "hash": "aa" },
              { "dir": "lr=5e-4,seed=2", "values": { "optimizer.lr": "5e-4", "train.seed": "2" }, "hash": "bb" } ] }"#;
        std::fs::write(root.join(MANIFEST), manifest).expect("manifest");
        let point = root.join("lr=5e-4,seed=1");
        for (n, hash) in [("001", "aa"), ("002", "aa"), ("003", "cc")] {
            std::fs::create_dir_all(point.join(n)).expect("mkdir");
            std::fs::write(
                point.join(n).join("resolved.ron"),
                format!("// hash {hash}\n()"),
            )
            .expect("ron");
        }
        let s = sweep(&root).expect("sweep");
        assert_eq!(s.manifest.name, "table3");
        assert_eq!(s.manifest.axes, ["optimizer.lr", "train.seed"]);
        assert_eq!(s.manifest.points[0].values["train.seed"], "1");
        assert_eq!(s.manifest.points[1].values["optimizer.lr"], "5e-4");
        assert_eq!(s.runs, [Some(point.join("002")), None]);
        std::fs::write(
            root.join(MANIFEST),
            r#"{"name":"x","points":[{"dir":"../up"}]}"#,
        )
        .expect("manifest");
        assert!(matches!(sweep(&root), Err(ReportError::Malformed { .. })));
        std::fs::write(root.join(MANIFEST), "{\n\"name\": 3 }").expect("manifest");
        assert!(matches!(
            sweep(&root),
            Err(ReportError::Malformed { line: Some(2), .. })
        ));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_recipe_name_and_length_come_from_resolved_ron() {
        let dir = temp("resolved");
        std::fs::write(
            dir.join("resolved.ron"),
            "// hash 1\n(name: \"tiny\", model: (embed: 3), schedule: (kind: cosine, length: steps(120)))",
        )
        .expect("ron");
        assert_eq!(
            resolved(&dir),
            Some(Resolved {
                name: "tiny".into(),
                length: crate::ir::Duration::Steps(120)
            })
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
