//! `deitc preview R.deit [-n 16] [-o grid.png]`: a PNG grid of augmented training samples,
//! exactly as the first batches of an epoch feed them to the model, plus a text listing of
//! what was drawn for each.

use super::{Output, RecipeArgs};
use crate::data::loader::Drawn;
use crate::data::pil_ops::PilOp;
use crate::data::preview::{compose, Tile};
use crate::data::Loader;
use crate::diag::Diagnostics;
use crate::error::Error;
use crate::train::catalogue::Registry;
use crate::train::RunError;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct PreviewArgs {
    /// How many samples to show.
    #[arg(short = 'n', long = "samples", default_value_t = 16,
          value_parser = super::usage::samples, allow_negative_numbers = true)]
    pub samples: u16,
    /// The PNG to write (default: `<recipe>.preview.png` in the current folder).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Which epoch's batches to show (augmentations differ per epoch).
    #[arg(long, default_value_t = 0, value_parser = super::usage::whole,
          allow_negative_numbers = true)]
    pub epoch: u64,
}

pub fn run(args: &RecipeArgs, opts: &PreviewArgs, graphs: &Registry, out: &mut Output) -> u8 {
    let checked = args.check(graphs);
    let Some(recipe) = out.checked(&checked, "preview") else {
        return 1;
    };
    let fail = |out: &mut Output, e: Error| {
        out.diagnostics(&Diagnostics::global(e), &checked.map, "preview");
        1
    };
    let loader = match Loader::new(recipe) {
        Ok(l) => l,
        Err(e) => {
            let message = e.to_string();
            return fail(out, Error::Run(RunError::DataLoad { message }));
        }
    };
    let steps = loader.steps_per_epoch();
    if steps == 0 {
        let message = format!(
            "an epoch has no full batch of {} images ({} training images)",
            loader.batch_size(),
            loader.train.len()
        );
        return fail(out, Error::Run(RunError::DataLoad { message }));
    }
    let wanted = usize::from(opts.samples);
    let order = loader.order(opts.epoch);
    let batches: Result<Vec<Drawn>, _> = (0..wanted.div_ceil(loader.batch_size()).min(steps))
        .map(|step| loader.train_batch_drawn(opts.epoch, step, &order))
        .collect();
    let batches = match batches {
        Ok(b) => b,
        Err(e) => {
            let message = e.to_string();
            return fail(out, Error::Run(RunError::DataLoad { message }));
        }
    };
    let (channels, side, _) = loader.image_shape();
    let name = |label: u16| loader.train.class_name(label);

    let mut tiles = Vec::new();
    let mut listing = String::new();
    let per = channels * side * side;
    for (step, d) in batches.iter().enumerate() {
        let b = d.batch.size;
        let mixed = d.batch.lam < 1.0;
        listing.push_str(&format!("batch {step}: {}\n", mix_line(d)));
        for k in 0..b {
            if tiles.len() == wanted {
                break;
            }
            let label = d.batch.labels[k];
            let partner = d.batch.labels[b - 1 - k];
            let s = &d.samples[k];
            let ops: Vec<String> = s.policy.iter().map(|a| describe(&a.op)).collect();
            let short: Vec<&str> = s.policy.iter().map(|a| a.op.name()).collect();
            let mix = if mixed {
                format!("λ{:.2} +{}", d.batch.lam, name(partner))
            } else {
                String::new()
            };
            tiles.push(Tile {
                image: &d.batch.images[k * per..(k + 1) * per],
                caption: [name(label), mix, short.join(" ")],
            });
            let mut line = format!(
                "  #{:<3} {:<10} image {:<6} crop {}×{} at ({}, {}){}{}",
                tiles.len() - 1,
                name(label),
                d.indices[k],
                s.crop.0,
                s.crop.1,
                s.offset.0,
                s.offset.1,
                if s.fallback { " (central)" } else { "" },
                if s.flipped { " · flip" } else { "" },
            );
            if !ops.is_empty() {
                line.push_str(&format!(" · {}", ops.join(", ")));
            }
            if let Some(j) = &s.jitter {
                let f: Vec<String> = j.iter().map(|(op, f)| format!("{op:?} {f:.2}")).collect();
                line.push_str(&format!(" · jitter {}", f.join(", ")));
            }
            if s.erased > 0 {
                line.push_str(&format!(" · erased {}", s.erased));
            }
            if mixed {
                line.push_str(&format!(" · mixed with {}", name(partner)));
            }
            listing.push_str(&line);
            listing.push('\n');
        }
    }

    let sheet = compose(&tiles, channels, side, &recipe.data.mean, &recipe.data.std);
    let path = opts.output.clone().unwrap_or_else(|| {
        let stem = args
            .recipe
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recipe".into());
        PathBuf::from(format!("{stem}.preview.png"))
    });
    let written = sheet
        .png()
        .and_then(|bytes| super::import::write_output(&path, &bytes));
    if let Err(message) = written {
        let path = path.display().to_string();
        return fail(out, Error::WriteOutput { path, message });
    }
    let rows = tiles.len().div_ceil(sheet.columns);
    out.out(&format!(
        "{}: {} training samples of epoch {} → {} ({}×{} grid, {}× zoom, {}×{} px)\n{listing}",
        recipe.name,
        tiles.len(),
        opts.epoch,
        path.display(),
        sheet.columns,
        rows,
        sheet.zoom,
        sheet.width,
        sheet.height,
    ));
    0
}

/// How a batch was mixed, in words.
fn mix_line(d: &Drawn) -> String {
    match (d.batch.lam < 1.0, d.cutmix) {
        (false, _) => "not mixed".into(),
        (true, Some(c)) => format!(
            "cutmix λ {:.3}, box rows {}..{} × cols {}..{} from the reversed batch",
            d.batch.lam, c.y0, c.y1, c.x0, c.x1
        ),
        (true, None) => format!("mixup λ {:.3} with the reversed batch", d.batch.lam),
    }
}

/// An op with its argument, e.g. `Rotate -27.3°`.
fn describe(op: &PilOp) -> String {
    let name = op.name();
    match *op {
        PilOp::AutoContrast | PilOp::Equalize | PilOp::Invert => name.into(),
        PilOp::Posterize { bits } => format!("{name} {bits} bits"),
        PilOp::Solarize { threshold } => format!("{name} ≥{threshold}"),
        PilOp::SolarizeAdd { add, threshold } => format!("{name} +{add} <{threshold}"),
        PilOp::Color(f)
        | PilOp::Contrast(f)
        | PilOp::Brightness(f)
        | PilOp::Sharpness(f)
        | PilOp::ShearX(f)
        | PilOp::ShearY(f) => format!("{name} {f:.2}"),
        PilOp::Rotate { degrees } => format!("{name} {degrees:.1}°"),
        PilOp::TranslateX(px) | PilOp::TranslateY(px) => format!("{name} {px:.1}px"),
    }
}
