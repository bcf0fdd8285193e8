//! Per-epoch metrics, appended to `metrics.jsonl` and `metrics.csv` in the run directory,
//! and top-k accuracy.

use super::tensor_io::WriteFailure;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based count of finished epochs.
    pub epoch: u64,
    pub step: u64,
    pub lr: f64,
    pub train_loss: f64,
    pub val_top1: Option<f64>,
    pub val_top5: Option<f64>,
    pub val_loss: Option<f64>,
    pub ema_top1: Option<f64>,
    pub img_per_s: f64,
    pub wall_s: f64,
}

const CSV_HEADER: &str =
    "epoch,step,lr,train_loss,val_top1,val_top5,val_loss,ema_top1,img_per_s,wall_s\n";

impl EpochMetrics {
    fn csv(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        format!(
            "{},{},{:e},{:.6},{},{},{},{},{:.1},{:.1}\n",
            self.epoch,
            self.step,
            self.lr,
            self.train_loss,
            opt(self.val_top1),
            opt(self.val_top5),
            opt(self.val_loss),
            opt(self.ema_top1),
            self.img_per_s,
            self.wall_s
        )
    }

    /// Appends this epoch to both files (writing the CSV header first when new).
    pub fn append(&self, dir: &Path) -> Result<(), WriteFailure> {
        let path = dir.join("metrics.jsonl");
        let line = format!("{}\n", serde_json::to_string(self).unwrap_or_default());
        append_to(&path, line.as_bytes())?;
        let csv_path = dir.join("metrics.csv");
        let mut text = if csv_path.exists() {
            String::new()
        } else {
            CSV_HEADER.to_string()
        };
        text.push_str(&self.csv());
        append_to(&csv_path, text.as_bytes())
    }
}

fn append_to(path: &Path, bytes: &[u8]) -> Result<(), WriteFailure> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| WriteFailure::new(path, Some(bytes.len()), e))
}

/// Cuts `metrics.jsonl` and `metrics.csv` in `dir` back to the first `epochs` epochs (and
/// drops a line cut short by a crash): a resumed run appends the epochs after its
/// checkpoint again, so each epoch appears once.
pub fn keep_epochs(dir: &Path, epochs: u64) -> Result<(), WriteFailure> {
    let keep = |path: &Path, header: bool, epoch_of: &dyn Fn(&str) -> Option<u64>| {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(());
        };
        let mut out = String::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let whole = line.ends_with('\n');
            if (header && i == 0 && whole) || (whole && epoch_of(line).is_some_and(|e| e <= epochs))
            {
                out.push_str(line);
            }
        }
        if out == text {
            return Ok(());
        }
        super::tensor_io::write_atomically(path, out.as_bytes())
            .map_err(|e| WriteFailure::new(path, Some(out.len()), e))
    };
    keep(&dir.join("metrics.jsonl"), false, &|l| {
        serde_json::from_str::<EpochMetrics>(l)
            .ok()
            .map(|m| m.epoch)
    })?;
    keep(&dir.join("metrics.csv"), true, &|l| {
        // A whole row has every column.
        let cols: Vec<&str> = l.trim_end().split(',').collect();
        (cols.len() == CSV_HEADER.split(',').count())
            .then(|| cols[0].parse().ok())
            .flatten()
    })
}

/// Counts of rows of `logits` (`n×k`) whose label is among the top 1 and top 5 (ties broken
/// by index, as `torch.topk`), and the summed cross-entropy. A row with any NaN or infinite
/// logit is wrong, whatever its label (NaN compares false with everything, so it would
/// otherwise rank first), and makes the loss non-finite.
pub fn score(logits: &[f32], labels: &[u16], k: usize) -> (usize, usize, f64) {
    let (mut top1, mut top5, mut loss) = (0, 0, 0.0);
    for (row, &y) in logits.chunks(k).zip(labels) {
        let y = usize::from(y);
        let target = row[y];
        let higher = row
            .iter()
            .enumerate()
            .filter(|(i, &v)| v > target || (v == target && *i < y))
            .count();
        let finite = row.iter().all(|v| v.is_finite());
        top1 += usize::from(finite && higher == 0);
        top5 += usize::from(finite && higher < 5);
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let lse = f64::from(m) + row.iter().map(|v| f64::from(v - m).exp()).sum::<f64>().ln();
        loss += lse - f64::from(target);
    }
    (top1, top5, loss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_epochs_cuts_both_files_back_and_drops_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("deitc-metrics-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let m = |epoch| EpochMetrics {
            epoch,
            step: epoch * 6,
            lr: 1e-3,
            train_loss: 2.0,
            val_top1: Some(0.5),
            val_top5: None,
            val_loss: None,
            ema_top1: None,
            img_per_s: 100.0,
            wall_s: 1.0,
        };
        for e in 1..=3 {
            m(e).append(&dir).expect("append");
        }
        let full_json = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("jsonl");
        // A crash in the middle of appending epoch 4.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("metrics.jsonl"))
            .expect("open");
        f.write_all(b"{\"epoch\":4,\"st").expect("torn");
        keep_epochs(&dir, 3).expect("keep");
        assert_eq!(
            std::fs::read_to_string(dir.join("metrics.jsonl")).expect("jsonl"),
            full_json
        );
        keep_epochs(&dir, 1).expect("keep");
        let json = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("jsonl");
        let csv = std::fs::read_to_string(dir.join("metrics.csv")).expect("csv");
        assert_eq!(json.lines().count(), 1);
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert!(
            csv.starts_with(CSV_HEADER)
                && csv.lines().nth(1).is_some_and(|l| l.starts_with("1,6,"))
        );
        keep_epochs(&dir, 0).expect("keep");
        assert_eq!(
            std::fs::read_to_string(dir.join("metrics.jsonl")).expect("jsonl"),
            ""
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("metrics.csv")).expect("csv"),
            CSV_HEADER
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn top_k_and_loss() {
        let logits = [
            0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, /* row 2 */ 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0,
        ];
        let (t1, t5, loss) = score(&logits, &[6, 6], 7);
        assert_eq!((t1, t5), (1, 1));
        let lse: f64 = (0..7).map(|i| f64::from(i).exp()).sum::<f64>().ln();
        assert!((loss - ((lse - 6.0) + (lse - 0.0))).abs() < 1e-9);
    }

    #[test]
    fn a_row_with_a_non_finite_logit_is_never_correct() {
        let k = 3;
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            // The non-finite logit on the label, elsewhere, and everywhere.
            for row in [[bad, 0.0, 1.0], [2.0, bad, 0.0], [bad, bad, bad]] {
                let (t1, t5, loss) = score(&row, &[0], k);
                assert_eq!((t1, t5), (0, 0), "{row:?}");
                assert!(
                    !loss.is_finite() || bad == f32::NEG_INFINITY,
                    "{row:?}: {loss}"
                );
            }
        }
        // A finite row next to a NaN one still counts.
        let (t1, t5, _) = score(&[5.0, 0.0, 0.0, f32::NAN, 0.0, 0.0], &[0, 0], k);
        assert_eq!((t1, t5), (1, 1));
    }
}
