//! Sweeps on the command line: the points as `check` and `explain` list them (name, hash,
//! status), as JSON, and the manifest `deitc run` writes beside the points' runs
//! (`<train.output>/<name>/sweep.json`, read by `deitc report` and `deitc runs`).

use super::Output;
use crate::check::sweep::Sweep;
use crate::diag::Diagnostics;
use crate::error::Error;
use crate::source::SourceMap;
use crate::train::{run_dir, stages, RunError};

/// The manifest's file name, in the sweep's folder.
pub const MANIFEST: &str = "sweep.json";

/// `2 × 3`: the grid's shape.
fn shape(sw: &Sweep) -> String {
    sw.shape
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" × ")
}

/// The folder the points' runs go under, from the first point that checked.
fn folder(sw: &Sweep) -> Option<std::path::PathBuf> {
    let r = sw.points.iter().find_map(|p| p.recipe.as_ref())?;
    Some(run_dir::runs_of(&r.train.output, &sw.name))
}

/// One line for the sweep, then one per point: name, hash and status (`*` marks the
/// points `--point` picked, when it picked some but not all).
pub fn listing(sw: &Sweep) -> String {
    let axes: Vec<String> = sw
        .grid
        .iter()
        .map(|a| match a.as_slice() {
            [one] => one.clone(),
            zipped => format!("zip({})", zipped.join(", ")),
        })
        .collect();
    let under = folder(sw).map_or(String::new(), |f| format!(" · runs under {}", f.display()));
    let mut out = format!(
        "sweep · {} ({}: {}){under}\n",
        super::output::plural(sw.points.len(), "point"),
        shape(sw),
        axes.join(" × ")
    );
    let width = sw.points.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let some = sw.selected.len() < sw.points.len();
    for (i, p) in sw.points.iter().enumerate() {
        let mark = if some && sw.selected.contains(&i) {
            "*"
        } else {
            " "
        };
        let (hash, status) = match &p.recipe {
            Some(r) => (stages::hash_of(r), super::stages::status(r)),
            None => ("-".repeat(16), "does not check".to_string()),
        };
        out += &format!(
            " {mark}{:width$}  hash {hash}  {status}\n",
            p.name,
            width = width
        );
    }
    out
}

/// The sweep as JSON: axes, shape and points (values, hash, picked).
pub fn json(sw: &Sweep) -> serde_json::Value {
    let points: Vec<serde_json::Value> = sw
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let values: serde_json::Map<String, serde_json::Value> = p
                .values
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            serde_json::json!({
                "dir": p.name,
                "values": values,
                "hash": p.recipe.as_ref().map(stages::hash_of),
                "picked": sw.selected.contains(&i),
            })
        })
        .collect();
    serde_json::json!({
        "name": sw.name,
        "axes": sw.axes.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        "keys": sw.axes.iter().map(|(_, k)| k.clone()).collect::<Vec<_>>(),
        "shape": sw.shape,
        "grid": sw.grid,
        "points": points,
    })
}

/// Writes `sweep.json` (atomically) in the sweep's folder before its points run.
pub fn write_manifest(sw: &Sweep, out: &mut Output, map: &SourceMap) -> Result<(), u8> {
    let Some(dir) = folder(sw) else {
        return Ok(());
    };
    let mut v = json(sw);
    if let Some(o) = v.as_object_mut() {
        o.remove("keys");
        if let Some(points) = o.get_mut("points").and_then(|p| p.as_array_mut()) {
            for p in points.iter_mut().filter_map(|p| p.as_object_mut()) {
                p.remove("picked");
            }
        }
    }
    let text = format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default());
    let path = dir.join(MANIFEST);
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| crate::train::tensor_io::write_atomically(&path, text.as_bytes()));
    match written {
        Ok(()) => Ok(()),
        Err(e) => {
            let e = RunError::from(crate::train::tensor_io::WriteFailure::new(
                &path,
                Some(text.len()),
                e,
            ));
            out.diagnostics(&Diagnostics::global(Error::Run(e)), map, "run");
            Err(1)
        }
    }
}
