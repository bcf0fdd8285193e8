//! Cross-field rules and lints over the resolved recipe. Each finding is labelled at the
//! fields involved, wherever they were set (a file, a base, a `--set`).

use super::dataset::SourceFacts;
use crate::diag::{Diag, ErrorKind};
use crate::ir::*;
use crate::source::Span;
use std::collections::HashMap;

/// Where each field or block was written; absent = default.
pub struct Spans<'a> {
    pub of: &'a HashMap<&'static str, Span>,
}

/// Dataset facts for the two splits.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub train: SourceFacts,
    pub val: SourceFacts,
}

impl Facts {
    /// Samples one epoch draws: RASampler keeps `N // 256 * 256` when repeats are on.
    pub fn epoch_samples(&self, r: &Recipe) -> Option<usize> {
        let n = self.train.samples?;
        Some(if r.augment.repeated > 1 {
            n / 256 * 256
        } else {
            n
        })
    }

    pub fn steps_per_epoch(&self, r: &Recipe) -> Option<usize> {
        Some(self.epoch_samples(r)? / r.train.batch.max(1))
    }
}

struct Out<'a> {
    spans: &'a Spans<'a>,
    diags: Vec<Diag>,
}

impl Out<'_> {
    /// Reports `kind` at the first of `at` that was written somewhere, with the rest of
    /// `at` as secondary labels.
    fn report(&mut self, kind: ErrorKind, at: &[(&str, &str)]) {
        let mut spans = at
            .iter()
            .filter_map(|(p, text)| self.spans.of.get(p).map(|s| (*s, *text)));
        let mut d = match spans.next() {
            Some((span, text)) => {
                let d = Diag::error(kind, span);
                if text.is_empty() {
                    d
                } else {
                    d.with_label(text)
                }
            }
            None => Diag::global(kind),
        };
        for (span, text) in spans {
            d = d.with_secondary(span, text);
        }
        self.diags.push(d);
    }
}

pub fn check(r: &Recipe, facts: &Facts, spans: &Spans<'_>) -> Vec<Diag> {
    let mut out = Out {
        spans,
        diags: Vec::new(),
    };
    model_rules(r, &mut out);
    data_rules(r, facts, &mut out);
    augment_rules(r, &mut out);
    distill_rules(r, &mut out);
    schedule_rules(r, facts, &mut out);
    inert_fields(r, &mut out);
    out.diags
}

fn model_rules(r: &Recipe, out: &mut Out<'_>) {
    let m = &r.model;
    if m.classes != r.data.classes {
        let data = format!("{} classes", r.data.classes);
        out.report(
            ErrorKind::ModelClasses {
                model: m.classes,
                data: r.data.classes,
            },
            &[
                ("model.classes", ""),
                ("data.classes", &data),
                ("data.train", &data),
            ],
        );
    }
    if m.family == Family::Convnet {
        if !m.image.is_multiple_of(2) {
            out.report(
                ErrorKind::ConvnetImage { image: m.image },
                &[("model.image", ""), ("model.family", "convnet")],
            );
        }
        if m.distilled {
            out.report(
                ErrorKind::VitDistilled {
                    family: "convnet".into(),
                },
                &[("model.distilled", ""), ("model.family", "convnet")],
            );
        }
        return;
    }
    if !m.embed.is_multiple_of(m.heads) {
        let embed = format!("embed {}", m.embed);
        out.report(
            ErrorKind::EmbedHeads {
                embed: m.embed,
                heads: m.heads,
            },
            &[("model.heads", ""), ("model.embed", &embed)],
        );
    }
    if !m.image.is_multiple_of(m.patch) {
        let image = format!("image {}", m.image);
        out.report(
            ErrorKind::ImagePatch {
                image: m.image,
                patch: m.patch,
            },
            &[("model.patch", ""), ("model.image", &image)],
        );
    }
    let hidden = m.embed as f64 * m.mlp_ratio;
    if (hidden - hidden.round()).abs() > 1e-9 {
        out.report(
            ErrorKind::MlpHidden {
                embed: m.embed,
                ratio: m.mlp_ratio,
            },
            &[("model.mlp_ratio", ""), ("model.embed", "embed")],
        );
    }
    if m.family == Family::Vit && m.distilled {
        out.report(
            ErrorKind::VitDistilled {
                family: "vit".into(),
            },
            &[("model.distilled", ""), ("model.family", "vit")],
        );
    }
}

fn data_rules(r: &Recipe, facts: &Facts, out: &mut Out<'_>) {
    for (field, vals) in [("mean", &r.data.mean), ("std", &r.data.std)] {
        if vals.len() != r.model.channels {
            let path = if field == "mean" {
                "data.mean"
            } else {
                "data.std"
            };
            out.report(
                ErrorKind::ChannelStats {
                    channels: r.model.channels,
                    field: field.into(),
                    found: vals.len(),
                },
                &[(path, ""), ("model.channels", "channels")],
            );
        }
    }
    if let Some(source) = facts.train.classes.filter(|c| *c != r.data.classes) {
        out.report(
            ErrorKind::SourceClasses {
                source,
                data: r.data.classes,
            },
            &[
                ("data.classes", ""),
                ("data.train", &format!("this source has {source} classes")),
            ],
        );
    }
    let files = [
        (
            "distill.teacher.checkpoint",
            r.distill
                .teacher
                .as_ref()
                .filter(|t| t.stage.is_none())
                .map(|t| t.checkpoint.clone()),
        ),
        (
            "distill.teacher.recipe",
            r.distill.teacher.as_ref().and_then(|t| t.recipe.clone()),
        ),
        (
            "finetune.from",
            r.finetune
                .as_ref()
                .filter(|f| f.from_stage.is_none())
                .map(|f| f.from.clone()),
        ),
    ];
    for (field, path) in files {
        if let Some(path) = path.filter(|p| !std::path::Path::new(p).exists()) {
            out.report(
                ErrorKind::FileMissing {
                    field: field.into(),
                    path,
                },
                &[(field, "")],
            );
        }
    }
    for (path, f) in [("data.train", &facts.train), ("data.val", &facts.val)] {
        if let Some(missing) = &f.missing {
            out.report(
                ErrorKind::DataNotFound {
                    path: missing.clone(),
                },
                &[(path, "")],
            );
        }
        if let Some(message) = &f.unusable {
            out.report(
                ErrorKind::SourceLayout {
                    message: message.clone(),
                },
                &[(path, "")],
            );
        }
    }
}

fn augment_rules(r: &Recipe, out: &mut Out<'_>) {
    let a = &r.augment;
    let policy = a.rand_augment.is_some() || a.auto_augment.is_some();
    if a.rand_augment.is_some() && a.auto_augment.is_some() {
        out.report(
            ErrorKind::TwoPolicies,
            &[
                ("augment.auto_augment", "AutoAugment"),
                ("augment.rand_augment", "RandAugment"),
            ],
        );
    }
    if a.color_jitter.is_some() && policy {
        out.report(
            ErrorKind::InertColorJitter,
            &[
                ("augment.color_jitter", ""),
                ("augment.rand_augment", "because RandAugment is on"),
                ("augment.auto_augment", "because AutoAugment is on"),
            ],
        );
    }
    let mixing = a
        .mix
        .as_ref()
        .is_some_and(|m| (m.mixup > 0.0 || m.cutmix > 0.0) && m.prob > 0.0);
    if mixing && r.train.batch % 2 == 1 {
        out.report(
            ErrorKind::OddBatchMix {
                batch: r.train.batch,
            },
            &[("train.batch", ""), ("augment.mix", "mixing enabled here")],
        );
    }
}

fn distill_rules(r: &Recipe, out: &mut Out<'_>) {
    let d = &r.distill;
    let mode = mode_name(d.mode);
    if d.mode != DistillMode::None {
        if d.teacher.is_none() {
            out.report(
                ErrorKind::TeacherRequired { mode: mode.into() },
                &[("distill.mode", "")],
            );
        }
        if r.finetune.is_some() {
            out.report(
                ErrorKind::FinetuneWithDistill,
                &[("finetune", ""), ("distill.mode", "distillation")],
            );
        }
    } else {
        if d.teacher.is_some() {
            out.report(
                ErrorKind::UnusedTeacher { mode: mode.into() },
                &[("distill.teacher", ""), ("distill.mode", "mode")],
            );
        }
        if r.model.distilled && d.eval_head == EvalHead::Average {
            out.report(
                ErrorKind::DistHeadUntrained,
                &[("model.distilled", ""), ("distill.mode", "no distillation")],
            );
        }
    }
    if let Some(t) = &d.teacher {
        if t.classes != r.data.classes {
            let data = format!("{} classes", r.data.classes);
            out.report(
                ErrorKind::TeacherClasses {
                    teacher: t.classes,
                    data: r.data.classes,
                },
                &[
                    ("distill.teacher.classes", ""),
                    ("data.classes", &data),
                    ("data.train", &data),
                ],
            );
        }
        if t.arch == TeacherArch::Regnety160 && r.model.channels != 3 {
            let channels = match r.model.channels {
                1 => "1 channel".to_string(),
                c => format!("{c} channels"),
            };
            out.report(
                ErrorKind::TeacherChannels {
                    channels: r.model.channels,
                },
                &[("distill.teacher.arch", ""), ("model.channels", &channels)],
            );
        }
    }
    if !r.model.distilled && d.eval_head == EvalHead::Dist {
        out.report(
            ErrorKind::EvalHeadNeedsToken {
                head: "dist".into(),
            },
            &[
                ("distill.eval_head", ""),
                ("model.distilled", "no distillation token"),
            ],
        );
    }
    if let Some(f) = &r.finetune {
        if let Some(from) = f.from_image.filter(|i| *i != r.model.image) {
            if f.pos_embed == PosEmbedInterp::None {
                out.report(
                    ErrorKind::ResolutionNeedsInterpolation {
                        from,
                        to: r.model.image,
                    },
                    &[
                        ("finetune.pos_embed", ""),
                        ("finetune.from_image", "checkpoint resolution"),
                        ("model.image", "model resolution"),
                    ],
                );
            }
        }
    }
}

fn schedule_rules(r: &Recipe, facts: &Facts, out: &mut Out<'_>) {
    let s = &r.schedule;
    let spe = facts.steps_per_epoch(r);
    let comparable = match (s.warmup, s.length) {
        (Duration::Epochs(w), Duration::Epochs(l)) | (Duration::Steps(w), Duration::Steps(l)) => {
            Some((w, l))
        }
        (w, l) => spe.map(|n| (w.steps(n as u64), l.steps(n as u64))),
    };
    if let Some((w, l)) = comparable {
        if w > 0 && w >= l {
            out.report(
                ErrorKind::WarmupTooLong {
                    warmup: s.warmup.to_string(),
                    length: s.length.to_string(),
                },
                &[
                    ("schedule.warmup", ""),
                    ("schedule.length", "schedule length"),
                ],
            );
        }
    }
    if s.kind == ScheduleKind::Cosine && s.min_lr > r.optimizer.lr {
        out.report(
            ErrorKind::MinLrAboveLr {
                min_lr: s.min_lr,
                lr: r.optimizer.lr,
            },
            &[("schedule.min_lr", ""), ("optimizer.lr", "peak lr")],
        );
    }
    if let (Some(n), Some(epoch)) = (facts.train.samples, facts.epoch_samples(r)) {
        if epoch < r.train.batch {
            out.report(
                ErrorKind::EmptyEpoch {
                    samples: epoch,
                    batch: r.train.batch,
                    repeated: r.augment.repeated > 1,
                },
                &[
                    ("train.batch", ""),
                    ("augment.repeated", "repeated augmentation"),
                    ("data.train", "this source"),
                ],
            );
        } else if r.augment.repeated > 1 && (epoch as f64) < 0.9 * n as f64 {
            out.report(
                ErrorKind::RepeatedAugSmall { samples: epoch },
                &[("augment.repeated", ""), ("data.train", "this source")],
            );
        }
    }
}

/// Fields a recipe sets explicitly that its other settings make unused.
fn inert_fields(r: &Recipe, out: &mut Out<'_>) {
    let sgd = r.optimizer.kind == OptimizerKind::Sgd;
    let convnet = r.model.family == Family::Convnet;
    let mut cases: Vec<(&str, bool, &str, &str)> = vec![
        (
            "optimizer.momentum",
            !sgd,
            "with `optimizer.kind = adamw`",
            "optimizer.kind",
        ),
        (
            "optimizer.betas",
            sgd,
            "with `optimizer.kind = sgd`",
            "optimizer.kind",
        ),
        (
            "optimizer.eps",
            sgd,
            "with `optimizer.kind = sgd`",
            "optimizer.kind",
        ),
        (
            "schedule.decay_every",
            r.schedule.kind != ScheduleKind::Step,
            "unless `schedule.kind = step`",
            "schedule.kind",
        ),
        (
            "schedule.decay_rate",
            r.schedule.kind != ScheduleKind::Step,
            "unless `schedule.kind = step`",
            "schedule.kind",
        ),
        (
            "distill.tau",
            r.distill.mode != DistillMode::Soft,
            "unless `distill.mode = soft`",
            "distill.mode",
        ),
        (
            "augment.crop.padding",
            r.augment.crop.kind != CropKind::Random,
            "unless `augment.crop.kind = random`",
            "augment.crop.kind",
        ),
        (
            "augment.crop.scale",
            r.augment.crop.kind != CropKind::RandomResized,
            "unless `augment.crop.kind = random_resized`",
            "augment.crop.kind",
        ),
        (
            "augment.crop.ratio",
            r.augment.crop.kind != CropKind::RandomResized,
            "unless `augment.crop.kind = random_resized`",
            "augment.crop.kind",
        ),
    ];
    for path in [
        "model.patch",
        "model.embed",
        "model.depth",
        "model.heads",
        "model.mlp_ratio",
        "model.qkv_bias",
        "model.drop_path",
    ] {
        cases.push((
            path,
            convnet,
            "with `model.family = convnet`",
            "model.family",
        ));
    }
    cases.push((
        "model.width",
        !convnet,
        "unless `model.family = convnet`",
        "model.family",
    ));
    for (path, inert, reason, cause) in cases {
        if inert && out.spans.of.contains_key(path) {
            out.report(
                ErrorKind::InertField {
                    path: path.into(),
                    reason: reason.into(),
                },
                &[(path, ""), (cause, "this setting")],
            );
        }
    }
}

/// Warnings about what `deitc run` cannot do with an otherwise valid recipe.
pub fn trainability(r: &Recipe, build: &super::BuildFacts, spans: &Spans<'_>) -> Vec<Diag> {
    let mut out = Out {
        spans,
        diags: Vec::new(),
    };
    not_trainable(r, build, &mut out);
    precision_fallback(r, build, &mut out);
    out.diags
}

/// The device the run will train on: the command line's `--device`, else the recipe's.
fn run_device(r: &Recipe, build: &super::BuildFacts) -> Device {
    build.device.unwrap_or(r.train.device)
}

/// `train.precision` other than fp32 on the CPU: the run falls back to fp32 (a warning,
/// so that a recipe written for the GPU still runs on a CPU).
fn precision_fallback(r: &Recipe, build: &super::BuildFacts, out: &mut Out<'_>) {
    if r.train.precision == Precision::Fp32 || run_device(r, build) != Device::Cpu {
        return;
    }
    let kind = ErrorKind::PrecisionFallback {
        precision: r.train.precision.name().into(),
    };
    let mut at = vec![("train.precision", "")];
    // The recipe's `train.device` is the cause only when the command line keeps it.
    if build.device.is_none() {
        at.push(("train.device", "training on the CPU"));
    }
    out.report(kind, &at);
}

/// One warning listing the settings `deitc run` refuses today, at the first of them.
fn not_trainable(r: &Recipe, build: &super::BuildFacts, out: &mut Out<'_>) {
    let a = &r.augment;
    // `finetune.train_mode = false` fine-tunes in eval mode, where a distilled model's
    // forward returns the average of its two heads and the loss is taken on that average:
    // deitc trains the class head on its own, so it cannot reproduce that.
    let eval_mode_distilled =
        r.model.distilled && r.finetune.as_ref().is_some_and(|f| !f.train_mode);
    let train_mode_at = if out.spans.of.contains_key("finetune.train_mode") {
        "finetune.train_mode"
    } else {
        "finetune"
    };
    // timm resamples the policies' rotate/shear/translate with the train interpolation;
    // deitc implements them bicubically only (the official recipe's choice).
    let policy_interp = (a.rand_augment.is_some() || a.auto_augment.is_some())
        && a.crop.interpolation != Interpolation::Bicubic;
    let cases: [(bool, &str, &str); 3] = [
        (
            policy_interp,
            "RandAugment/AutoAugment with non-bicubic interpolation",
            "augment.crop.interpolation",
        ),
        (
            // Not when `--device cpu` overrides the recipe's `cuda`.
            r.train.device == Device::Cuda
                && run_device(r, build) == Device::Cuda
                && build.cuda == Some(false),
            "CUDA (a build without the `cuda` feature)",
            "train.device",
        ),
        (
            eval_mode_distilled,
            "eval-mode fine-tuning of a distilled model (`finetune.train_mode = false`)",
            train_mode_at,
        ),
    ];
    let found: Vec<&(bool, &str, &str)> = cases.iter().filter(|c| c.0).collect();
    if found.is_empty() {
        return;
    }
    let features = found.iter().map(|c| c.1.to_string()).collect();
    let at: Vec<(&str, &str)> = found.iter().map(|c| (c.2, "")).take(1).collect();
    out.report(ErrorKind::NotTrainable { features }, &at);
}

fn mode_name(m: DistillMode) -> &'static str {
    match m {
        DistillMode::None => "none",
        DistillMode::Soft => "soft",
        DistillMode::Hard => "hard",
    }
}
