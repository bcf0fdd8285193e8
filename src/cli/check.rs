//! `deitc check R.deit [--set …]`: validate, then summarise cost.

use super::{MessageFormat, Output, RecipeArgs};
use crate::check::cost::{train_memory_bytes, Cost};
use crate::check::pipeline::Pipeline;
use crate::check::{show_f64, Checked};
use crate::ir::{DistillMode, Recipe, ScheduleKind, Source};
use crate::train::catalogue::Registry;

pub fn run(args: &RecipeArgs, format: MessageFormat, graphs: &Registry, out: &mut Output) -> u8 {
    if args.stage.is_none() {
        if let Some(p) = crate::check::pipeline::check_request(
            &args.recipe,
            &args.request(),
            &super::build_facts(graphs),
        ) {
            return pipeline(&p, format, graphs, out);
        }
    }
    // Every point of a sweep (the first picked one is summarised in full).
    let checked = args.check_with(&super::build_facts(graphs));
    match format {
        MessageFormat::Human => {
            out.diagnostics(&checked.diags, &checked.map, "check");
            if let (true, Some(r)) = (checked.ok(), &checked.recipe) {
                let mut text = summary(r, &checked, graphs);
                if let Some(sw) = &checked.sweep {
                    text += &super::sweep::listing(sw);
                }
                out.out(&text);
            }
        }
        MessageFormat::Json => {
            out.diagnostics_json(&checked.diags, &checked.map);
            let mut v = json_summary(&checked);
            if let Some(sw) = &checked.sweep {
                v["sweep"] = super::sweep::json(sw);
            }
            out.out(&format!("{v}\n"));
        }
    }
    u8::from(!checked.ok())
}

/// A whole pipeline: its diagnostics, then the stage graph and each stage's summary.
fn pipeline(p: &Pipeline, format: MessageFormat, graphs: &Registry, out: &mut Output) -> u8 {
    match format {
        MessageFormat::Human => {
            if super::stages::report(p, out, "check") {
                let mut text = super::stages::graph(p);
                for &i in &p.order {
                    let c = &p.stages[i].checked;
                    if let Some(r) = &c.recipe {
                        text += "\n";
                        text += &summary(r, c, graphs);
                    }
                }
                out.out(&text);
            }
        }
        MessageFormat::Json => {
            out.diagnostics_json(&p.diags, &p.map);
            let stages: Vec<serde_json::Value> = p
                .order
                .iter()
                .map(|&i| {
                    let mut v = json_summary(&p.stages[i].checked);
                    v["stage"] = p.stages[i].name.clone().into();
                    v
                })
                .collect();
            let v = serde_json::json!({
                "type": "summary",
                "ok": p.ok(),
                "errors": p.diags.error_count(),
                "warnings": p.diags.warning_count(),
                "stages": stages,
            });
            out.out(&format!("{v}\n"));
        }
    }
    u8::from(!p.ok())
}

/// The success summary: model, exact params, compute, memory, data and schedule.
pub fn summary(r: &Recipe, c: &Checked, graphs: &Registry) -> String {
    let m = &r.model;
    let cost = Cost::of(m);
    let mem = train_memory_bytes(m, r.train.batch, r.train.ema.is_some());
    let kind = if m.distilled { "distilled" } else { "plain" };
    let mut s = format!("{}: ok\n", r.name);
    if !m.is_transformer() {
        s += &format!(
            "  model     convnet · 3×3 convolutions {} → {} → pool → {} → {} · {} px · {} ch · {} classes\n",
            m.width, m.width, 2 * m.width, 2 * m.width, m.image, m.channels, m.classes
        );
    } else {
        s += &format!(
        "  model     {:?} ({kind}) · depth {} · embed {} · {} heads · mlp {} · patch {} · {} px · {} tokens · {} classes\n",
        m.family, m.depth, m.embed, m.heads, m.mlp_hidden(), m.patch, m.image, m.tokens(), m.classes
    )
    .replace("Deit", "DeiT")
    .replace("Vit", "ViT");
    }
    s += &format!("  params    {}\n", thousands(cost.params));
    s += &format!(
        "  compute   {}MACs ({}FLOPs) per image, forward\n",
        si(cost.macs),
        si(2 * cost.macs)
    );
    s += &format!(
        "  memory    ≈ {} to train at batch {} (f32 weights, grads, AdamW{}, activations)\n",
        bytes(mem),
        r.train.batch,
        if r.train.ema.is_some() { ", EMA" } else { "" }
    );
    if let Some(f) = &c.facts {
        let (tr, va) = (f.train.samples, f.val.samples);
        let sizes = match (tr, va) {
            (Some(t), Some(v)) => format!(
                "train {} · val {} images",
                thousands(t as u64),
                thousands(v as u64)
            ),
            (Some(t), None) => format!("train {} images", thousands(t as u64)),
            _ => "dataset size unknown here".to_string(),
        };
        let steps = match f.steps_per_epoch(r) {
            Some(n) => format!(" · {} steps per epoch", thousands(n as u64)),
            None => String::new(),
        };
        s += &format!("  data      {sizes}{steps}\n");
    }
    let held = crate::data::loader::residency(r);
    if held.iter().any(|(_, h)| h.streamed || h.bytes >= 64 << 20) {
        let parts: Vec<String> = held
            .iter()
            .map(|(split, h)| {
                let how = if h.streamed {
                    "streamed from disk"
                } else {
                    "preloaded"
                };
                format!("{split} {} decoded, {how}", bytes(h.bytes))
            })
            .collect();
        s += &format!("            {} (`data.preload`)\n", parts.join(" · "));
    }
    let folders = [&r.data.train, &r.data.val];
    if folders
        .iter()
        .any(|s| matches!(s, Source::ImageFolder { .. }))
    {
        s += &format!("  jpeg      {}\n", crate::data::turbojpeg::decoder());
    }
    if let Ok(shapes) = crate::generated::missing(r, graphs) {
        if !shapes.is_empty() {
            let cargo = match crate::generated::cargo_version() {
                Ok(_) => "built with cargo, then cached",
                Err(_) => "needs cargo, which does not run here",
            };
            let what: Vec<String> = shapes.iter().map(crate::ir::Shape::to_string).collect();
            s += &format!(
                "  graph     generated on the first `run` for {} ({cargo}; `deitc build` builds it ahead)\n",
                what.join(" and ")
            );
        }
    }
    let sched = &r.schedule;
    let kind = match sched.kind {
        ScheduleKind::Cosine => "cosine",
        ScheduleKind::Step => "step",
        ScheduleKind::Constant => "constant",
    };
    s += &format!(
        "  schedule  {} · {kind} · peak lr {} · warmup {}\n",
        sched.length,
        show_f64(r.optimizer.lr),
        sched.warmup
    );
    if r.distill.mode != DistillMode::None {
        if let Some(t) = &r.distill.teacher {
            let from = match &t.stage {
                Some(st) => format!("stage `{}`, its {} checkpoint", st.stage, st.output.name()),
                None => t.checkpoint.clone(),
            };
            s += &format!(
                "  distill   {} from {} ({from})\n",
                name(&r.distill.mode),
                name(&t.arch),
            );
        }
    }
    s
}

/// An IR enum value as the language writes it.
fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn json_summary(c: &Checked) -> serde_json::Value {
    let mut v = serde_json::json!({
        "type": "summary",
        "ok": c.ok(),
        "errors": c.diags.error_count(),
        "warnings": c.diags.warning_count(),
    });
    if let (true, Some(r)) = (c.ok(), &c.recipe) {
        let cost = Cost::of(&r.model);
        v["recipe"] = r.name.clone().into();
        v["params"] = cost.params.into();
        v["macs"] = cost.macs.into();
        v["train_memory_bytes"] =
            train_memory_bytes(&r.model, r.train.batch, r.train.ema.is_some()).into();
        if let Some(n) = c.facts.as_ref().and_then(|f| f.steps_per_epoch(r)) {
            v["steps_per_epoch"] = n.into();
        }
    }
    v
}

/// `5717416` → `5,717,416`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1.25 G`, `3.41 M`: a count with its SI prefix.
fn si(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2} G", n as f64 / 1e9)
    } else {
        format!("{:.2} M", n as f64 / 1e6)
    }
}

fn bytes(b: u64) -> String {
    let gib = b as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(5_717_416), "5,717,416");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
    }
}
