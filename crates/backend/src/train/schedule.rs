//! The learning-rate schedule: linear warmup, then cosine, step or constant — timm's
//! `CosineLRScheduler`/`StepLRScheduler` with DeiT's settings.
//!
//! With `schedule.unit = epochs` the rate is constant within an epoch and follows the
//! official code's stepping: `main.py` calls `lr_scheduler.step(epoch)` *after* epoch `e`,
//! so epoch `e ≥ 1` trains with `f(e − 1)` and epoch 0 with `warmup_lr` (the value set at
//! construction) — epochs 0 and 1 both use `warmup_lr`. This off-by-one is reproduced on
//! purpose. With `schedule.unit = steps` the rate is updated every optimizer step with
//! `f(global_step)` measured in steps, without the offset.
//!
//! `f(t) = warmup_lr + t·(base − warmup_lr)/warmup` for `t < warmup`, then
//! cosine: `min_lr + ½(base − min_lr)(1 + cos(π·t/length))` — not shifted by the warmup
//! (timm's `warmup_prefix=False`), step: `base · decay_rate^⌊t/decay_every⌋`, constant: `base`.

use crate::ir::{Duration, Recipe, ScheduleKind, ScheduleUnit};

#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    pub kind: ScheduleKind,
    pub unit: ScheduleUnit,
    pub base: f64,
    pub warmup_lr: f64,
    pub min_lr: f64,
    /// Lengths in the schedule's unit (epochs or steps).
    pub warmup: f64,
    pub length: f64,
    pub decay_every: f64,
    pub decay_rate: f64,
    pub steps_per_epoch: u64,
}

impl LrSchedule {
    pub fn new(r: &Recipe, steps_per_epoch: u64) -> Self {
        let s = &r.schedule;
        let spe = steps_per_epoch.max(1);
        let in_unit = |d: Duration| match (s.unit, d) {
            (ScheduleUnit::Epochs, Duration::Epochs(e)) => e as f64,
            (ScheduleUnit::Epochs, Duration::Steps(n)) => n as f64 / spe as f64,
            (ScheduleUnit::Steps, d) => d.steps(spe) as f64,
        };
        LrSchedule {
            kind: s.kind,
            unit: s.unit,
            base: r.optimizer.lr,
            warmup_lr: s.warmup_lr,
            min_lr: s.min_lr,
            warmup: in_unit(s.warmup),
            length: in_unit(s.length),
            decay_every: in_unit(s.decay_every),
            decay_rate: s.decay_rate,
            steps_per_epoch: spe,
        }
    }

    /// `f(t)`, with `t` in the schedule's unit.
    pub fn f(&self, t: f64) -> f64 {
        if t < self.warmup {
            return self.warmup_lr + t * (self.base - self.warmup_lr) / self.warmup;
        }
        match self.kind {
            ScheduleKind::Cosine => {
                let progress = (t / self.length.max(f64::MIN_POSITIVE)).min(1.0);
                self.min_lr
                    + 0.5
                        * (self.base - self.min_lr)
                        * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            ScheduleKind::Step => {
                self.base
                    * self
                        .decay_rate
                        .powf((t / self.decay_every.max(1e-12)).floor())
            }
            ScheduleKind::Constant => self.base,
        }
    }

    /// The rate for optimizer step `step` (0-based) of epoch `epoch` (0-based).
    pub fn lr(&self, epoch: u64, step: u64) -> f64 {
        match self.unit {
            ScheduleUnit::Epochs if epoch == 0 => self.warmup_lr,
            ScheduleUnit::Epochs => self.f((epoch - 1) as f64),
            ScheduleUnit::Steps => self.f((epoch * self.steps_per_epoch + step) as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deit(unit: ScheduleUnit) -> LrSchedule {
        LrSchedule {
            kind: ScheduleKind::Cosine,
            unit,
            base: 1e-3,
            warmup_lr: 1e-6,
            min_lr: 1e-5,
            warmup: 5.0,
            length: 300.0,
            decay_every: 30.0,
            decay_rate: 0.1,
            steps_per_epoch: 1251,
        }
    }

    #[test]
    fn per_epoch_rates_match_the_official_table() {
        // ../shared/reference/deit.md §3.5: the lr each epoch trains with, base 1e-3.
        let s = deit(ScheduleUnit::Epochs);
        let table = [
            (0, 1e-6),
            (1, 1e-6),
            (2, 2.008e-4),
            (3, 4.006e-4),
            (4, 6.004e-4),
            (5, 8.002e-4),
            (6, 9.993e-4),
            (150, 5.10e-4),
            (299, 1.011e-5),
        ];
        for (epoch, want) in table {
            let got = s.lr(epoch, 0);
            assert!(
                (got - want).abs() / want < 2e-3,
                "epoch {epoch}: {got} vs {want}"
            );
            assert_eq!(s.lr(epoch, 1000), got, "constant within an epoch");
        }
    }

    #[test]
    fn per_step_rates_warm_up_linearly_and_end_at_min_lr() {
        let mut s = deit(ScheduleUnit::Steps);
        s.warmup = 100.0;
        s.length = 1000.0;
        s.steps_per_epoch = 10;
        assert_eq!(s.lr(0, 0), 1e-6);
        assert!((s.lr(5, 0) - (1e-6 + 50.0 * (1e-3 - 1e-6) / 100.0)).abs() < 1e-15);
        assert!((s.f(1000.0) - 1e-5).abs() < 1e-15);
    }

    #[test]
    fn step_and_constant_schedules() {
        let mut s = deit(ScheduleUnit::Epochs);
        s.kind = ScheduleKind::Step;
        s.warmup = 0.0;
        assert_eq!(s.f(29.0), 1e-3);
        assert!((s.f(30.0) - 1e-4).abs() < 1e-18);
        assert!((s.f(65.0) - 1e-5).abs() < 1e-18);
        s.kind = ScheduleKind::Constant;
        assert_eq!(s.f(200.0), 1e-3);
    }
}
