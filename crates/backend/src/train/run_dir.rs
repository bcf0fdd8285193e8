//! Run directories: `<train.output>/<recipe>/<NNN>/` holding `resolved.ron` (the exact IR
//! and its hash), `metrics.jsonl`, `metrics.csv`, `checkpoint.safetensors` (the last) and
//! `best.safetensors` (best validation top-1).

use std::path::{Path, PathBuf};

/// FNV-1a 64 of the resolved recipe text: identifies "the same recipe" for `--resume`.
pub fn recipe_hash(resolved: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in resolved.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `<output>/<name>`: where this recipe's runs live.
pub fn runs_of(output: &str, name: &str) -> PathBuf {
    Path::new(output).join(name)
}

/// The numbered run directories under `root`, in order.
pub fn existing(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.parse::<u32>().ok())
                        .map(|n| (n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Creates the next numbered run directory (`001`, `002`, …) and writes `resolved.ron`.
pub fn create(root: &Path, resolved: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    let next = existing(root)
        .last()
        .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok())
        .map_or(1, |n| n + 1);
    let dir = root.join(format!("{next:03}"));
    std::fs::create_dir(&dir)?;
    let text = format!("// hash {}\n{resolved}", recipe_hash(resolved));
    super::tensor_io::write_atomically(&dir.join("resolved.ron"), text.as_bytes())?;
    Ok(dir)
}

/// The hash recorded in a run's `resolved.ron`.
pub fn recorded_hash(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("resolved.ron")).ok()?;
    text.lines()
        .next()?
        .strip_prefix("// hash ")
        .map(str::to_string)
}

/// What a run that reached the end of its schedule records in `summary.json`; its presence
/// marks the run finished (a pipeline stage with one is not run again).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub epochs: u64,
    pub steps: u64,
    pub final_top1: Option<f64>,
    pub best_top1: Option<f64>,
}

impl Summary {
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        super::tensor_io::write_atomically(&dir.join("summary.json"), text.as_bytes())
    }

    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The latest run under `root` of the recipe with `hash` that finished, with its summary.
pub fn finished(root: &Path, hash: &str) -> Option<(PathBuf, Summary)> {
    existing(root)
        .into_iter()
        .rev()
        .filter(|d| recorded_hash(d).as_deref() == Some(hash))
        .find_map(|d| Summary::read(&d).map(|s| (d, s)))
}
