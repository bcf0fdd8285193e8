//! Assembling the typed field values into the IR `Recipe`.

use super::value::Val;
use crate::ir::*;
use crate::syntax::ast::Unit;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// Typed values of every field in a present block, by path.
pub struct Values<'a> {
    pub vals: &'a HashMap<&'static str, Val>,
    pub present: &'a dyn Fn(&str) -> bool,
}

impl Values<'_> {
    fn get(&self, p: &str) -> Option<&Val> {
        self.vals.get(p)
    }
    fn int(&self, p: &str) -> Option<i64> {
        match self.get(p)? {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn usize(&self, p: &str) -> Option<usize> {
        self.int(p).map(|i| i as usize)
    }
    fn opt_usize(&self, p: &str) -> Option<Option<usize>> {
        match self.get(p)? {
            Val::None => Some(None),
            Val::Int(i) => Some(Some(*i as usize)),
            _ => None,
        }
    }
    fn f64(&self, p: &str) -> Option<f64> {
        self.get(p)?.as_f64()
    }
    fn opt_f64(&self, p: &str) -> Option<Option<f64>> {
        match self.get(p)? {
            Val::None => Some(None),
            v => Some(Some(v.as_f64()?)),
        }
    }
    fn bool(&self, p: &str) -> Option<bool> {
        match self.get(p)? {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn string(&self, p: &str) -> Option<String> {
        match self.get(p)? {
            Val::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
    /// A checkpoint path, or an earlier stage's checkpoint (its reference as the path).
    fn checkpoint(&self, p: &str) -> Option<(String, Option<StageRef>)> {
        match self.get(p)? {
            Val::Str(s) => Some((s.clone(), None)),
            Val::Stage { stage, output } => {
                let r = StageRef {
                    stage: stage.clone(),
                    output: *output,
                    recipe: None,
                };
                Some((r.written(), Some(r)))
            }
            _ => None,
        }
    }
    fn opt_string(&self, p: &str) -> Option<Option<String>> {
        match self.get(p)? {
            Val::None => Some(None),
            Val::Str(s) => Some(Some(s.clone())),
            _ => None,
        }
    }
    /// An enum field, through the IR's serde names (they equal the schema's names).
    fn sym<T: DeserializeOwned>(&self, p: &str) -> Option<T> {
        match self.get(p)? {
            Val::Sym(s) => serde_json::from_value(serde_json::Value::String(s.clone())).ok(),
            _ => None,
        }
    }
    fn opt_sym<T: DeserializeOwned>(&self, p: &str) -> Option<Option<T>> {
        match self.get(p)? {
            Val::None => Some(None),
            _ => Some(Some(self.sym(p)?)),
        }
    }
    fn range(&self, p: &str) -> Option<Range> {
        match self.get(p)? {
            Val::Range(lo, hi) => Some(Range { lo: *lo, hi: *hi }),
            _ => None,
        }
    }
    fn floats(&self, p: &str) -> Option<Vec<f64>> {
        match self.get(p)? {
            Val::List(items) => items.iter().map(|i| i.val.as_f64()).collect(),
            _ => None,
        }
    }
    fn names<T: DeserializeOwned>(&self, p: &str) -> Option<Vec<T>> {
        match self.get(p)? {
            Val::List(items) => items
                .iter()
                .map(|i| match &i.val {
                    Val::Sym(s) => {
                        serde_json::from_value(serde_json::Value::String(s.clone())).ok()
                    }
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
    fn source(&self, p: &str) -> Option<Source> {
        match self.get(p)? {
            Val::Source(s) => Some(s.clone()),
            _ => None,
        }
    }
    /// A duration; a percentage is taken of `of` (rounded to a whole count).
    fn duration(&self, p: &str, of: Option<Duration>) -> Option<Duration> {
        match self.get(p)? {
            Val::Qty(x, Unit::Epochs) => Some(Duration::Epochs(*x as u64)),
            Val::Qty(x, Unit::Steps) => Some(Duration::Steps(*x as u64)),
            Val::Qty(pct, Unit::Percent) => Some(match of? {
                Duration::Epochs(e) => Duration::Epochs((e as f64 * pct / 100.0).round() as u64),
                Duration::Steps(s) => Duration::Steps((s as f64 * pct / 100.0).round() as u64),
            }),
            _ => None,
        }
    }
    /// A period in epochs, steps or (typed into seconds) wall-clock time.
    fn every(&self, p: &str) -> Option<Every> {
        match self.get(p)? {
            Val::Qty(x, Unit::Seconds) => Some(Every::Seconds(*x as u64)),
            _ => self.duration(p, None).map(Every::from),
        }
    }
}

/// The class counts the data implies, decided before building.
pub struct Classes {
    pub data: usize,
}

pub fn build(name: &str, v: &Values<'_>, classes: &Classes) -> Option<Recipe> {
    let present = |b: &str| (v.present)(b);
    let family: Family = v.sym("model.family")?;
    let convnet = family == Family::Convnet;
    let model = Model {
        family,
        patch: v.usize("model.patch")?,
        image: v.usize("model.image")?,
        channels: v.usize("model.channels")?,
        // A convnet has no transformer dimensions: 0 when unset.
        embed: v.usize("model.embed").or(convnet.then_some(0))?,
        depth: v.usize("model.depth").or(convnet.then_some(0))?,
        heads: v.usize("model.heads").or(convnet.then_some(0))?,
        mlp_ratio: v.f64("model.mlp_ratio")?,
        qkv_bias: v.bool("model.qkv_bias")?,
        drop_path: v.f64("model.drop_path")?,
        dropout: v.f64("model.dropout")?,
        distilled: v.bool("model.distilled")?,
        classes: v.opt_usize("model.classes")?.unwrap_or(classes.data),
        width: v.usize("model.width")?,
    };
    let data = Data {
        train: v.source("data.train")?,
        val: v.source("data.val")?,
        classes: classes.data,
        mean: v.floats("data.mean")?,
        std: v.floats("data.std")?,
        eval_crop: v.f64("data.eval_crop")?,
        skip_unreadable: v.bool("data.skip_unreadable")?,
        preload: v.sym("data.preload")?,
        interpolation: v.sym("data.interpolation")?,
    };
    let augment = Augment {
        crop: Crop {
            kind: v.sym("augment.crop.kind")?,
            scale: v.range("augment.crop.scale")?,
            ratio: v.range("augment.crop.ratio")?,
            interpolation: v.sym("augment.crop.interpolation")?,
            padding: v.usize("augment.crop.padding")?,
        },
        hflip: v.f64("augment.hflip")?,
        rand_augment: if present("augment.rand_augment") {
            Some(RandAugment {
                ops: v.usize("augment.rand_augment.ops")?,
                magnitude: v.f64("augment.rand_augment.magnitude")?,
                magnitude_std: v.f64("augment.rand_augment.magnitude_std")?,
                increasing: v.bool("augment.rand_augment.increasing")?,
                prob: v.f64("augment.rand_augment.prob")?,
            })
        } else {
            None
        },
        auto_augment: v.opt_sym("augment.auto_augment")?,
        color_jitter: v.opt_f64("augment.color_jitter")?,
        random_erasing: if present("augment.random_erasing") {
            Some(RandomErasing {
                prob: v.f64("augment.random_erasing.prob")?,
                mode: v.sym("augment.random_erasing.mode")?,
                count: v.usize("augment.random_erasing.count")?,
                area: v.range("augment.random_erasing.area")?,
                aspect: v.range("augment.random_erasing.aspect")?,
            })
        } else {
            None
        },
        mix: if present("augment.mix") {
            Some(Mix {
                mixup: v.f64("augment.mix.mixup")?,
                cutmix: v.f64("augment.mix.cutmix")?,
                prob: v.f64("augment.mix.prob")?,
                switch_prob: v.f64("augment.mix.switch_prob")?,
            })
        } else {
            None
        },
        label_smoothing: v.f64("augment.label_smoothing")?,
        repeated: v.usize("augment.repeated")?,
    };
    let betas = v.floats("optimizer.betas")?;
    let optimizer = Optimizer {
        kind: v.sym("optimizer.kind")?,
        lr: v.f64("optimizer.lr")?,
        betas: [*betas.first()?, *betas.get(1)?],
        eps: v.f64("optimizer.eps")?,
        momentum: v.f64("optimizer.momentum")?,
        weight_decay: v.f64("optimizer.weight_decay")?,
        no_decay: v.names("optimizer.no_decay")?,
        clip_grad: v.opt_f64("optimizer.clip_grad")?,
    };
    let length = v.duration("schedule.length", None)?;
    let schedule = Schedule {
        kind: v.sym("schedule.kind")?,
        length,
        warmup: v.duration("schedule.warmup", Some(length))?,
        warmup_lr: v.f64("schedule.warmup_lr")?,
        min_lr: v.f64("schedule.min_lr")?,
        unit: v.sym("schedule.unit")?,
        decay_every: v.duration("schedule.decay_every", None)?,
        decay_rate: v.f64("schedule.decay_rate")?,
    };
    let distill = Distill {
        mode: v.sym("distill.mode")?,
        alpha: v.f64("distill.alpha")?,
        tau: v.f64("distill.tau")?,
        teacher: if present("distill.teacher") {
            Some(Teacher {
                arch: v.sym("distill.teacher.arch")?,
                checkpoint: v.checkpoint("distill.teacher.checkpoint")?.0,
                stage: v.checkpoint("distill.teacher.checkpoint")?.1,
                recipe: v.opt_string("distill.teacher.recipe")?,
                resolved: None,
                classes: v
                    .opt_usize("distill.teacher.classes")?
                    .unwrap_or(classes.data),
            })
        } else {
            None
        },
        eval_head: v.sym("distill.eval_head")?,
    };
    let train = Train {
        batch: v.usize("train.batch")?,
        seed: v.int("train.seed")? as u64,
        ema: v.opt_f64("train.ema")?,
        ema_eval: v.bool("train.ema_eval")?,
        eval_every: v.duration("train.eval_every", None)?,
        checkpoint_every: v.every("train.checkpoint_every")?,
        output: v.string("train.output")?,
        device: v.sym("train.device")?,
        precision: v.sym("train.precision")?,
    };
    let finetune = if present("finetune") {
        Some(Finetune {
            from: v.checkpoint("finetune.from")?.0,
            from_stage: v.checkpoint("finetune.from")?.1,
            from_image: v.opt_usize("finetune.from_image")?,
            pos_embed: v.sym("finetune.pos_embed")?,
            reset_head: v.sym("finetune.reset_head")?,
            train_mode: v.bool("finetune.train_mode")?,
        })
    } else {
        None
    };
    Some(Recipe {
        name: name.to_string(),
        model,
        data,
        augment,
        optimizer,
        schedule,
        distill,
        train,
        finetune,
    })
}
