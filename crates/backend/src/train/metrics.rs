//! Per-epoch metrics, appended to `metrics.jsonl` and `metrics.csv` in the run directory,
//! and top-k accuracy.

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
    pub fn append(&self, dir: &Path) -> std::io::Result<()> {
        let mut jsonl = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("metrics.jsonl"))?;
        writeln!(jsonl, "{}", serde_json::to_string(self).unwrap_or_default())?;
        let csv_path = dir.join("metrics.csv");
        let new = !csv_path.exists();
        let mut csv = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(csv_path)?;
        if new {
            csv.write_all(CSV_HEADER.as_bytes())?;
        }
        csv.write_all(self.csv().as_bytes())
    }
}

/// Counts of rows of `logits` (`n×k`) whose label is among the top 1 and top 5 (ties broken
/// by index, as `torch.topk`), and the summed cross-entropy.
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
        top1 += usize::from(higher == 0);
        top5 += usize::from(higher < 5);
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
    fn top_k_and_loss() {
        let logits = [
            0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, /* row 2 */ 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0,
        ];
        let (t1, t5, loss) = score(&logits, &[6, 6], 7);
        assert_eq!((t1, t5), (1, 1));
        let lse: f64 = (0..7).map(|i| f64::from(i).exp()).sum::<f64>().ln();
        assert!((loss - ((lse - 6.0) + (lse - 0.0))).abs() < 1e-9);
    }
}
