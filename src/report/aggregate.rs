//! From runs to what a report shows: series (one run, or the seeds of one sweep point
//! averaged), their per-epoch curves with the spread across seeds, and the table of final
//! and best validation top-1.

use crate::train::metrics::EpochMetrics;

/// One run's metrics, named as the report names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// `digits_vit/002`, or a sweep point's folder (`table3/lr=5e-4,seed=1`).
    pub label: String,
    pub metrics: Vec<EpochMetrics>,
}

/// One line of the plots and one row of the table: a run, or the runs of a sweep's points
/// that differ only in their seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub runs: Vec<Run>,
}

/// What a panel plots against the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    TrainLoss,
    ValTop1,
    Lr,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::TrainLoss, Metric::ValTop1, Metric::Lr];

    pub fn title(self) -> &'static str {
        match self {
            Metric::TrainLoss => "training loss",
            Metric::ValTop1 => "validation top-1",
            Metric::Lr => "learning rate",
        }
    }

    /// Its value in an epoch's metrics (`None`: not measured, or not finite).
    pub fn of(self, m: &EpochMetrics) -> Option<f64> {
        match self {
            Metric::TrainLoss => Some(m.train_loss),
            Metric::ValTop1 => m.val_top1,
            Metric::Lr => Some(m.lr),
        }
        .filter(|v| v.is_finite())
    }
}

/// A series' value at one epoch: the mean over the runs that have it, and their extremes
/// (the shaded band: min–max across seeds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub epoch: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Series {
    /// `metric` per epoch, over every epoch at least one of the runs has logged it.
    pub fn curve(&self, metric: Metric) -> Vec<Band> {
        let mut by_epoch: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
        for r in &self.runs {
            for m in &r.metrics {
                if let Some(v) = metric.of(m) {
                    by_epoch.entry(m.epoch).or_default().push(v);
                }
            }
        }
        by_epoch
            .into_iter()
            .filter_map(|(epoch, vs)| {
                let s = Stat::of(&vs)?;
                Some(Band {
                    epoch,
                    mean: s.mean,
                    min: vs.iter().copied().fold(f64::INFINITY, f64::min),
                    max: vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    n: s.n,
                })
            })
            .collect()
    }

    /// Whether it averages several runs (it is drawn with a band).
    pub fn is_group(&self) -> bool {
        self.runs.len() > 1
    }
}

/// Mean and sample standard deviation (n − 1 in the denominator; none for one value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub n: usize,
}

impl Stat {
    /// The statistics of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| {
            let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        Some(Stat { mean, std, n })
    }

    /// `0.9611 ± 0.0025`, or `0.9611` for one value.
    pub fn show(&self) -> String {
        match self.std {
            Some(s) => format!("{:.4} ± {s:.4}", self.mean),
            None => format!("{:.4}", self.mean),
        }
    }
}

/// A row of the table: a series' final and best validation top-1 across its runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    /// How many runs (seeds) it averages.
    pub n: usize,
    /// The fewest and most epochs its runs have logged.
    pub epochs: (u64, u64),
    /// The last measured top-1 of each run, across runs.
    pub final_top1: Option<Stat>,
    /// The best top-1 of each run, across runs.
    pub best_top1: Option<Stat>,
}

impl Row {
    pub fn of(s: &Series) -> Row {
        let top1 = |r: &Run| -> Vec<f64> {
            r.metrics
                .iter()
                .filter_map(|m| Metric::ValTop1.of(m))
                .collect()
        };
        let finals: Vec<f64> = s
            .runs
            .iter()
            .filter_map(|r| top1(r).last().copied())
            .collect();
        let bests: Vec<f64> = s
            .runs
            .iter()
            .filter_map(|r| top1(r).into_iter().reduce(f64::max))
            .collect();
        let epochs = s
            .runs
            .iter()
            .map(|r| r.metrics.last().map_or(0, |m| m.epoch));
        Row {
            label: s.label.clone(),
            n: s.runs.len(),
            epochs: (epochs.clone().min().unwrap_or(0), epochs.max().unwrap_or(0)),
            final_top1: Stat::of(&finals),
            best_top1: Stat::of(&bests),
        }
    }

    /// `5`, or `3–5` when its runs got to different epochs.
    pub fn show_epochs(&self) -> String {
        match self.epochs {
            (a, b) if a == b => a.to_string(),
            (a, b) => format!("{a}–{b}"),
        }
    }
}

/// The table as text: one line per series, the columns aligned.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let show = |s: &Option<Stat>| s.as_ref().map_or("—".to_string(), Stat::show);
            [
                r.label.clone(),
                r.n.to_string(),
                r.show_epochs(),
                show(&r.final_top1),
                show(&r.best_top1),
            ]
        })
        .collect();
    let head = ["series", "runs", "epochs", "final top-1", "best top-1"];
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([head[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..5).map(width).collect();
    let line = |c: [&str; 5]| {
        let mut s = String::new();
        for (i, cell) in c.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head);
    for c in &cells {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4]]));
    }
    out
}

/// Whether a sweep axis is a seed: `train.seed`, or any axis named `seed`.
pub fn is_seed_axis(axis: &str) -> bool {
    axis == "train.seed" || axis.rsplit('.').next() == Some("seed")
}

/// The groups of a sweep's points that differ only in their seed axes, in the order of their
/// first point: each group's label (`lr=5e-4`, from the last part of each other axis's
/// path; empty when only seeds vary) and the indices of its points.
pub fn seed_groups(
    axes: &[String],
    values: &[&std::collections::BTreeMap<String, String>],
) -> Vec<(String, Vec<usize>)> {
    // Each group: its values on the axes that are not seeds, and its points.
    type Key = Vec<(String, String)>;
    let mut groups: Vec<(Key, Vec<usize>)> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let key: Vec<(String, String)> = axes
            .iter()
            .filter(|a| !is_seed_axis(a))
            .map(|a| (a.clone(), v.get(a).cloned().unwrap_or_default()))
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let label = key
                .iter()
                .map(|(a, v)| format!("{}={v}", a.rsplit('.').next().unwrap_or(a)))
                .collect::<Vec<_>>()
                .join(",");
            (label, members)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, rows: &[(f64, Option<f64>)]) -> Run {
        Run {
            label: label.into(),
            metrics: rows
                .iter()
                .enumerate()
                .map(|(i, &(loss, top1))| EpochMetrics {
                    epoch: i as u64 + 1,
                    step: 0,
                    lr: 1e-3,
                    train_loss: loss,
                    val_top1: top1,
                    val_top5: None,
                    val_loss: None,
                    ema_top1: None,
                    img_per_s: 0.0,
                    wall_s: 0.0,
                })
                .collect(),
        }
    }

    #[test]
    fn mean_and_sample_std_match_their_closed_forms() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, so s = √(32/7).
        let s = Stat::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).expect("stat");
        assert_eq!(s.mean, 5.0);
        assert!((s.std.expect("std") - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.n, 8);
        // Two values a, b: s = |a − b| / √2.
        let s = Stat::of(&[0.9, 0.95]).expect("stat");
        assert!((s.mean - 0.925).abs() < 1e-12);
        assert!((s.std.expect("std") - 0.05 / 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(Stat::of(&[0.5]).map(|s| (s.mean, s.std)), Some((0.5, None)));
        assert_eq!(Stat::of(&[]), None);
        assert_eq!(
            Stat::of(&[0.5, 0.5]).map(|s| s.show()),
            Some("0.5000 ± 0.0000".into())
        );
    }

    #[test]
    fn a_curve_averages_the_runs_that_have_each_epoch_with_their_extremes() {
        let s = Series {
            label: "g".into(),
            runs: vec![
                run("a", &[(2.0, Some(0.2)), (1.0, None), (0.5, Some(0.6))]),
                run("b", &[(4.0, Some(0.4)), (3.0, Some(0.5))]),
            ],
        };
        let loss = s.curve(Metric::TrainLoss);
        assert_eq!(loss.len(), 3);
        assert_eq!(
            (loss[0].mean, loss[0].min, loss[0].max, loss[0].n),
            (3.0, 2.0, 4.0, 2)
        );
        assert_eq!((loss[2].mean, loss[2].n), (0.5, 1));
        let top1 = s.curve(Metric::ValTop1);
        assert_eq!(top1.iter().map(|b| b.epoch).collect::<Vec<_>>(), [1, 2, 3]);
        assert!((top1[0].mean - 0.3).abs() < 1e-12);
        assert_eq!((top1[1].mean, top1[1].n), (0.5, 1));
        let row = Row::of(&s);
        assert_eq!(row.epochs, (2, 3));
        assert_eq!(row.show_epochs(), "2–3");
        // Finals 0.6 and 0.5; bests 0.6 and 0.5.
        let f = row.final_top1.expect("final");
        assert!((f.mean - 0.55).abs() < 1e-12);
        assert!((f.std.expect("std") - 0.1 / 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(row.best_top1.map(|b| b.n), Some(2));
    }

    #[test]
    fn a_non_finite_loss_is_left_out_of_the_curve() {
        let s = Series {
            label: "g".into(),
            runs: vec![run("a", &[(f64::NAN, None), (1.0, None)])],
        };
        assert_eq!(s.curve(Metric::TrainLoss).len(), 1);
        assert_eq!(Row::of(&s).final_top1, None);
    }

    #[test]
    fn points_that_differ_only_in_a_seed_axis_are_grouped() {
        assert!(is_seed_axis("train.seed") && is_seed_axis("seed") && is_seed_axis("data.seed"));
        assert!(!is_seed_axis("optimizer.lr") && !is_seed_axis("train.seeds"));
        let axes = ["optimizer.lr".to_string(), "train.seed".to_string()];
        let point = |lr: &str, seed: &str| {
            [("optimizer.lr", lr), ("train.seed", seed)]
                .into_iter()
                .map(|(a, v)| (a.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let points = [
            point("5e-4", "1"),
            point("1e-3", "1"),
            point("5e-4", "2"),
            point("1e-3", "2"),
        ];
        let refs: Vec<_> = points.iter().collect();
        assert_eq!(
            seed_groups(&axes, &refs),
            [
                ("lr=5e-4".to_string(), vec![0, 2]),
                ("lr=1e-3".to_string(), vec![1, 3])
            ]
        );
        // Only seeds vary: one group, named by nothing.
        assert_eq!(
            seed_groups(&axes[1..], &refs),
            [(String::new(), vec![0, 1, 2, 3])]
        );
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let s = Series {
            label: "long label here".into(),
            runs: vec![run("a", &[(1.0, Some(0.5))])],
        };
        let t = table(&[Row::of(&s)]);
        assert_eq!(
            t,
            "series           runs  epochs  final top-1  best top-1\n\
             long label here     1       1       0.5000      0.5000\n"
        );
    }
}
