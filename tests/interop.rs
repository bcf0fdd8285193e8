//! timm interop: the position-embedding interpolation against PyTorch's values, import and
//! export (their composition is the identity, the imported weights give timm's logits), the
//! diagnostics of mismatched files, reading `.pth` files, and `finetune { from = … }` (heads,
//! grids, and a run that starts from a trained checkpoint).
//!
//! The timm fixture (`tests/fixtures/timm-small`, see its README) is a distilled and a plain
//! ViT of 16 px, patch 4, embed 64, depth 2, 2 heads and 5 classes, made by timm.

mod common;

use common::{run, temp_dir};
use deitc::check::check;
use deitc::diag::Describe;
use deitc::interop::finetune::{self, prepare};
use deitc::interop::names::layout;
use deitc::interop::pos_embed::{resample, Interp};
use deitc::interop::weights::{self, conform, Layout, Pick, Weights};
use deitc::interop::InteropError;
use deitc::ir::{HeadReset, PosEmbedInterp, Recipe};
use deitc::model::{DistilledDeit, TensorFile, Vit};
use deitc::train::catalogue;
use deitc::train::graph::{Graph, NetGraph};
use deitc::train::tensor_io::{to_bytes, Named};
use dfdx::prelude::Cpu;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FIXTURE: &str = "tests/fixtures/timm-small";

fn fixture(file: &str) -> PathBuf {
    Path::new(FIXTURE).join(file)
}

fn read(file: &str) -> TensorFile {
    TensorFile::read(fixture(file)).expect("fixture file")
}

/// A checked recipe from `text` (written to `dir/name.deit`), with `--set` overrides.
fn recipe_from(dir: &Path, name: &str, text: &str, sets: &[String]) -> (PathBuf, Recipe) {
    let path = dir.join(format!("{name}.deit"));
    std::fs::write(&path, text).expect("write recipe");
    let c = check(
        &path,
        sets,
        &deitc::cli::build_facts(&deitc::train::catalogue::Registry::compiled()),
    );
    assert!(c.ok(), "{:?}", c.diags.items);
    (path, c.recipe.expect("recipe"))
}

/// The fixture's shape (5 classes); `extra` is appended.
fn fixture_recipe(dir: &Path, distilled: bool, extra: &str) -> (PathBuf, Recipe) {
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n    distilled = {distilled}\n}}\n\
         data {{\n    train = synthetic(samples = 64, classes = 5)\n    val = synthetic(samples = 64, classes = 5, seed = 1)\n}}\n\
         distill.eval_head = {}\n\
         augment {{\n    crop.kind = none\n    repeated = 1\n}}\n\
         train {{\n    batch = 16\n    output = \"{}\"\n}}\n{extra}",
        if distilled { "average" } else { "cls" },
        dir.join("runs").display()
    );
    recipe_from(
        dir,
        if distilled {
            "fixture_distilled"
        } else {
            "fixture"
        },
        &text,
        &[],
    )
}

/// The compiled `test_tiny` shape (10 classes) on synthetic data; `extra` is appended, `sets`
/// override.
fn tiny_recipe(
    dir: &Path,
    name: &str,
    distilled: bool,
    extra: &str,
    sets: &[String],
) -> (PathBuf, Recipe) {
    let text = format!(
        "model {{\n    patch = 4\n    image = 16\n    embed = 64\n    depth = 2\n    heads = 2\n    distilled = {distilled}\n    drop_path = 0\n}}\n\
         data {{\n    train = synthetic(samples = 200, classes = 10)\n    val = synthetic(samples = 100, classes = 10, seed = 1)\n}}\n\
         distill.eval_head = cls\n\
         augment {{\n    crop.kind = none\n    repeated = 1\n}}\n\
         optimizer.lr = 3e-3\n\
         schedule {{\n    length = 8 epochs\n    warmup = 1 epoch\n    unit = steps\n}}\n\
         train {{\n    batch = 16\n    ema = 0.9\n    output = \"{}\"\n}}\n{extra}",
        dir.join("runs").display()
    );
    recipe_from(dir, name, &text, sets)
}

/// `max |a − b|` and `max |a − b| / max |b|`.
fn errors(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let abs = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| f64::from(y.abs())).fold(0.0, f64::max);
    (abs, abs / scale.max(f64::MIN_POSITIVE))
}

/// Every tensor of a safetensors file: name → (shape, f32 bits).
fn bits(bytes: &[u8]) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    let f = TensorFile::parse(bytes.to_vec()).expect("safetensors");
    let mut keys: Vec<String> = f.keys().map(str::to_string).collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let (shape, v) = f.f32s(&k).expect("f32");
            (k, shape, v.iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

// ---- position embedding -------------------------------------------------------------------

#[test]
fn bicubic_pos_embed_matches_pytorch() {
    let (shape, pe) = read("vit_distilled.safetensors")
        .f32s("pos_embed")
        .expect("pos");
    assert_eq!(shape, [1, 18, 64]);
    let (want_shape, want) = read("outputs_distilled.safetensors")
        .f32s("pos_embed_interp_6x6")
        .expect("reference");
    assert_eq!(want_shape, [1, 38, 64]);
    let ours = resample(&pe, 2, 4, 6, 64, Interp::Bicubic);
    // The cls and dist rows are copied bit for bit.
    assert_eq!(ours[..128], pe[..128]);
    let (abs, rel) = errors(&ours, &want);
    println!("pos_embed 4×4 → 6×6 bicubic: max abs {abs:.2e}, rel {rel:.2e}");
    assert!(abs <= 1e-5 && rel <= 1e-5, "abs {abs:e} rel {rel:e}");
}

// ---- names and layouts --------------------------------------------------------------------

#[test]
fn the_timm_layout_is_what_the_compiled_graphs_hold() {
    let dir = temp_dir("interop-layout");
    let digits: Vec<String> = [
        "model.patch=2",
        "model.image=8",
        "model.channels=1",
        "model.depth=4",
        "data.mean=[0.5]",
        "data.std=[0.5]",
    ]
    .map(String::from)
    .to_vec();
    for (name, distilled, sets) in [
        ("plain", false, vec![]),
        ("distilled", true, vec![]),
        ("digits", false, digits),
    ] {
        let (_, r) = tiny_recipe(&dir, name, distilled, "", &sets);
        let graph = catalogue::Registry::compiled()
            .build(&r, 0, r.train.device)
            .expect("compiled shape");
        let mut ours: Vec<(String, Vec<usize>)> = graph
            .state()
            .expect("state")
            .into_iter()
            .filter_map(|n| Some((n.name.strip_prefix("model.")?.to_string(), n.shape)))
            .collect();
        let mut specs: Vec<(String, Vec<usize>)> = layout(&r.model)
            .expect("a transformer")
            .into_iter()
            .map(|s| (s.name, s.ours))
            .collect();
        ours.sort();
        specs.sort();
        assert_eq!(ours, specs, "{name}");
    }
    // timm's names and shapes, in timm's order, for the fixture.
    let (_, r) = fixture_recipe(&dir, true, "");
    let f = read("vit_distilled.safetensors");
    let specs = layout(&r.model).expect("a transformer");
    assert_eq!(specs.len(), f.keys().count());
    for s in &specs {
        assert_eq!(
            f.info(&s.name).map(|i| &i.shape),
            Some(&s.timm),
            "{}",
            s.name
        );
    }
}

// ---- import and export --------------------------------------------------------------------

#[test]
fn export_after_import_is_the_identity_and_import_after_export_too() {
    let dir = temp_dir("interop-roundtrip");
    for (distilled, file) in [
        (true, "vit_distilled.safetensors"),
        (false, "vit_plain.safetensors"),
    ] {
        let (recipe, _) = fixture_recipe(&dir, distilled, "train.ema = 0.99\n");
        let (ours, back, again) = (
            dir.join("ours.safetensors"),
            dir.join("timm.safetensors"),
            dir.join("ours_again.safetensors"),
        );
        let recipe = recipe.display().to_string();
        let input = fixture(file).display().to_string();
        let (code, stdout, stderr) = run(&[
            "import",
            &input,
            "--recipe",
            &recipe,
            "-o",
            &ours.display().to_string(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("(timm safetensors)"), "{stdout}");
        let (code, _, stderr) = run(&[
            "export",
            &ours.display().to_string(),
            "--recipe",
            &recipe,
            "-o",
            &back.display().to_string(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let original = std::fs::read(fixture(file)).expect("fixture");
        let exported = std::fs::read(&back).expect("exported");
        assert_eq!(bits(&exported), bits(&original), "{file}");
        assert_eq!(
            TensorFile::parse(exported).expect("exported").metadata()["format"],
            "pt"
        );
        // The deitc side: model and EMA weights, the conv kernel as a matrix.
        let imported = TensorFile::read(&ours).expect("imported");
        assert_eq!(imported.metadata()["format"], "deitc-checkpoint-1");
        assert_eq!(
            imported
                .info("model.patch_embed.proj.weight")
                .map(|i| i.shape.clone()),
            Some(vec![64, 48])
        );
        assert!(imported.info("ema.cls_token").is_some());
        // Importing the export again gives the same checkpoint.
        let (code, _, stderr) = run(&[
            "import",
            &back.display().to_string(),
            "--recipe",
            &recipe,
            "-o",
            &again.display().to_string(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            bits(&std::fs::read(&again).expect("again")),
            bits(&std::fs::read(&ours).expect("ours"))
        );
    }
}

/// Eval logits of an imported fixture against timm's, through the graph the trainer uses.
fn imported_logits<G: Graph>(mut graph: G, recipe: &Recipe, file: &str, outputs: &str) {
    let converted = deitc::interop::import(
        &deitc::train::catalogue::Registry::compiled(),
        &fixture(file),
        recipe,
    )
    .expect("import");
    let ckpt = TensorFile::parse(converted.bytes).expect("checkpoint");
    graph.load_weights(&ckpt, "model.").expect("load");
    let (_, input) = read("input.safetensors").f32s("input").expect("input");
    let ours = graph.eval_logits(&input, 3, false).expect("logits");
    let (_, theirs) = read(outputs).f32s("eval_logits").expect("logits");
    let (abs, rel) = errors(&ours, &theirs);
    println!("{file}: eval logits max abs {abs:.2e}, rel {rel:.2e}");
    assert!(rel <= 1e-5, "{file}: rel {rel:e} (abs {abs:e})");
}

#[test]
fn imported_timm_weights_give_timms_logits() {
    let dir = temp_dir("interop-logits");
    let (_, r) = fixture_recipe(&dir, true, "");
    type D = DistilledDeit<4, 48, 64, 192, 2, 256, 18, 5, 2, f32, Cpu>;
    let g = NetGraph::<D, Cpu, 5>::new(&r, 0).expect("graph");
    imported_logits(
        g,
        &r,
        "vit_distilled.safetensors",
        "outputs_distilled.safetensors",
    );
    let (_, r) = fixture_recipe(&dir, false, "");
    type P = Vit<4, 48, 64, 192, 2, 256, 17, 5, 2, f32, Cpu>;
    let g = NetGraph::<P, Cpu, 5>::new(&r, 0).expect("graph");
    imported_logits(g, &r, "vit_plain.safetensors", "outputs_plain.safetensors");
}

// ---- mismatches -----------------------------------------------------------------------------

fn problems(file: &str, r: &Recipe) -> Vec<InteropError> {
    let w = weights::read(&fixture(file), Pick::Model).expect("readable");
    let specs = layout(&r.model).expect("transformer");
    conform(&w, &specs, &r.model, Layout::Ours, false).expect_err("a mismatch")
}

#[test]
fn mismatched_files_are_diagnostics_that_name_keys_and_shapes() {
    let dir = temp_dir("interop-mismatch");
    // A distilled checkpoint for a plain model: one diagnostic that says so.
    let (_, plain) = fixture_recipe(&dir, false, "");
    let p = problems("vit_distilled.safetensors", &plain);
    assert!(
        matches!(p.as_slice(), [InteropError::DistilledIntoPlain { .. }]),
        "{p:?}"
    );
    // A plain checkpoint for a distilled model: the missing tensors, not pos_embed's shape.
    let (_, distilled) = fixture_recipe(&dir, true, "");
    let p = problems("vit_plain.safetensors", &distilled);
    match p.as_slice() {
        [InteropError::WeightsMissing {
            keys,
            plain_into_distilled: true,
            ..
        }] => assert_eq!(
            keys,
            &[
                "dist_token [1, 1, 64]",
                "head_dist.weight [5, 64]",
                "head_dist.bias [5]"
            ]
        ),
        other => panic!("{other:?}"),
    }
    // Another class count: each head tensor, with both shapes, in the message.
    let (_, ten) = tiny_recipe(&dir, "ten", true, "", &[]);
    let p = problems("vit_distilled.safetensors", &ten);
    assert_eq!(p.len(), 4, "{p:?}");
    let first = &p[0];
    assert_eq!(first.code(), "deit::interop::shape");
    assert_eq!(
        first.describe().message,
        "`head.weight` is [5, 64] in `tests/fixtures/timm-small/vit_distilled.safetensors`, \
         but the model needs [10, 64]"
    );
    assert!(first
        .describe()
        .help
        .unwrap_or_default()
        .contains("5 classes and the model 10"));
    // A file that is no weights at all, and one with a non-float tensor.
    let e = weights::read(Path::new("Cargo.toml"), Pick::Model).expect_err("not weights");
    assert_eq!(e.code(), "deit::interop::unreadable");
    let e = weights::read(&fixture("outputs_distilled.safetensors"), Pick::Model)
        .expect_err("labels are int64");
    assert!(
        matches!(&e, InteropError::WeightsDtype { key, found, .. } if key == "labels" && found == "I64"),
        "{e:?}"
    );
}

#[test]
fn a_header_whose_sizes_overflow_is_refused_not_a_panic() {
    let dir = temp_dir("interop-overflow");
    for header in [
        r#"{"cls_token":{"dtype":"F32","shape":[8589934592,8589934592],"data_offsets":[0,4]}}"#,
        r#"{"cls_token":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,4]}}"#,
    ] {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 4]);
        let path = dir.join("overflow.safetensors");
        std::fs::write(&path, bytes).expect("write");
        let e = weights::read(&path, Pick::Model).expect_err("refused");
        assert_eq!(e.code(), "deit::interop::unreadable", "{e:?}");
    }
}

#[test]
fn a_timm_file_cannot_be_exported() {
    let dir = temp_dir("interop-export");
    let (recipe, _) = fixture_recipe(&dir, true, "");
    let out = dir.join("x.safetensors").display().to_string();
    let (code, _, stderr) = run(&[
        "export",
        &fixture("vit_distilled.safetensors").display().to_string(),
        "--recipe",
        &recipe.display().to_string(),
        "-o",
        &out,
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("deit::interop::not_a_checkpoint"),
        "{stderr}"
    );
    assert!(!Path::new(&out).exists());
}

// ---- .pth ---------------------------------------------------------------------------------

#[test]
fn a_pth_file_reads_like_its_safetensors_twin() {
    // tests/fixtures/interop/vit_plain.pth: the plain fixture as `torch.save({'model': sd})`
    // writes it (see tests/fixtures/interop/make_fixtures.py).
    let pth = Path::new("tests/fixtures/interop/vit_plain.pth");
    let a = weights::read(pth, Pick::Model).expect("pth");
    assert_eq!(a.format, weights::Format::Pth);
    let b = weights::read(&fixture("vit_plain.safetensors"), Pick::Model).expect("st");
    assert_eq!(a.tensors, b.tensors);
}

// ---- fine-tuning --------------------------------------------------------------------------

/// The graph's model tensors (names without `model.`).
fn model_state(g: &dyn Graph) -> HashMap<String, Named> {
    g.state()
        .expect("state")
        .into_iter()
        .filter_map(|n| {
            let name = n.name.strip_prefix("model.")?.to_string();
            Some((name.clone(), Named { name, ..n }))
        })
        .collect()
}

fn fixture_weights(file: &str) -> Weights {
    weights::read(&fixture(file), Pick::Model).expect("fixture")
}

#[test]
fn finetuning_resets_heads_of_another_class_count_or_refuses_with_never() {
    let dir = temp_dir("interop-heads");
    let (_, r) = tiny_recipe(&dir, "heads", false, "finetune.from = \"x\"\n", &[]);
    let mut graph = catalogue::Registry::compiled()
        .build(&r, 7, r.train.device)
        .expect("test_tiny");
    let fresh = model_state(graph.as_ref());
    let fresh_list: Vec<Named> = fresh.values().cloned().collect();
    let mut ft = r.finetune.clone().expect("finetune");
    ft.from = fixture("vit_plain.safetensors").display().to_string();

    // auto: the 5-class heads are dropped, everything else comes from the file.
    let loaded = finetune::apply(graph.as_mut(), &r, &ft).expect("auto");
    assert_eq!(loaded.reset, ["head.weight", "head.bias"]);
    assert_eq!(loaded.classes, Some((5, 10)));
    assert_eq!(loaded.tensors, 30);
    let after = model_state(graph.as_ref());
    let file = fixture_weights("vit_plain.safetensors");
    for (name, t) in &after {
        if name.starts_with("head.") {
            assert_eq!(t.data, fresh[name].data, "{name} is the fresh head");
        } else {
            assert_eq!(t.data, file.tensors[name].1, "{name} comes from the file");
        }
    }
    // The EMA starts from the loaded weights.
    let ema: Vec<Named> = graph
        .state()
        .expect("state")
        .into_iter()
        .filter(|n| n.name == "ema.cls_token")
        .collect();
    assert_eq!(ema[0].data, file.tensors["cls_token"].1);

    // never: refused, naming the head and both shapes.
    ft.reset_head = HeadReset::Never;
    let e = prepare(
        &r,
        &ft,
        fixture_weights("vit_plain.safetensors"),
        &fresh_list,
    )
    .expect_err("never");
    match e.as_slice() {
        [InteropError::HeadClasses {
            key,
            found,
            expected,
            ..
        }] => {
            assert_eq!(key, "head.weight");
            assert_eq!(
                (found.as_slice(), expected.as_slice()),
                (&[5, 64][..], &[10, 64][..])
            );
        }
        other => panic!("{other:?}"),
    }
    // always: reset even when the class count is the same.
    let (_, five) = fixture_recipe(
        &dir,
        false,
        "finetune.from = \"x\"\nfinetune.reset_head = always\n",
    );
    let ft5 = five.finetune.clone().expect("finetune");
    type P = Vit<4, 48, 64, 192, 2, 256, 17, 5, 2, f32, Cpu>;
    let g5 = NetGraph::<P, Cpu, 5>::new(&five, 3).expect("graph");
    let fresh5: Vec<Named> = model_state(&g5).into_values().collect();
    let (out, loaded) = prepare(
        &five,
        &ft5,
        fixture_weights("vit_plain.safetensors"),
        &fresh5,
    )
    .expect("always");
    assert_eq!(loaded.reset, ["head.weight", "head.bias"]);
    assert_eq!(loaded.classes, None);
    let head = out.iter().find(|t| t.name == "head.weight").expect("head");
    assert_ne!(
        head.data,
        fixture_weights("vit_plain.safetensors").tensors["head.weight"].1
    );
}

/// The distilled fixture with its position embedding replaced by the 6×6 PyTorch reference:
/// a checkpoint of the fixture's model trained at 24 px.
fn at_24px(dir: &Path) -> PathBuf {
    let f = read("vit_distilled.safetensors");
    let (_, pe6) = read("outputs_distilled.safetensors")
        .f32s("pos_embed_interp_6x6")
        .expect("reference");
    let mut tensors = Vec::new();
    for k in f.keys() {
        let (shape, data) = f.f32s(k).expect("f32");
        let (shape, data) = if k == "pos_embed" {
            (vec![1, 38, 64], pe6.clone())
        } else {
            (shape, data)
        };
        tensors.push(Named {
            name: k.to_string(),
            shape,
            data,
        });
    }
    let path = dir.join("vit_distilled_24px.safetensors");
    std::fs::write(&path, to_bytes(&tensors, HashMap::new()).expect("bytes")).expect("write");
    path
}

#[test]
fn finetuning_at_another_resolution_interpolates_the_grid() {
    let dir = temp_dir("interop-grid");
    let file = at_24px(&dir);
    let (_, r) = fixture_recipe(
        &dir,
        true,
        &format!("finetune.from = \"{}\"\n", file.display()),
    );
    type D = DistilledDeit<4, 48, 64, 192, 2, 256, 18, 5, 2, f32, Cpu>;
    let g = NetGraph::<D, Cpu, 5>::new(&r, 0).expect("graph");
    let fresh: Vec<Named> = model_state(&g).into_values().collect();
    let w = || weights::read(&file, Pick::Model).expect("24 px");
    let mut ft = r.finetune.clone().expect("finetune");

    let (out, loaded) = prepare(&r, &ft, w(), &fresh).expect("bicubic");
    assert_eq!(loaded.grid, Some((6, 4)));
    assert!(loaded.reset.is_empty());
    let pe = &out
        .iter()
        .find(|t| t.name == "pos_embed")
        .expect("pos")
        .data;
    let (_, pe6) = read("outputs_distilled.safetensors")
        .f32s("pos_embed_interp_6x6")
        .expect("reference");
    assert_eq!(pe.len(), 18 * 64);
    assert_eq!(pe[..128], pe6[..128], "cls and dist rows are kept");
    assert_eq!(*pe, resample(&pe6, 2, 6, 4, 64, Interp::Bicubic));
    assert!(loaded.describe().contains("pos_embed 6×6 → 4×4 (bicubic)"));

    ft.pos_embed = PosEmbedInterp::Bilinear;
    let (_, loaded) = prepare(&r, &ft, w(), &fresh).expect("bilinear");
    assert_eq!(loaded.interp, Some(Interp::Bilinear));

    // `pos_embed = none` keeps the 6×6 grid, which the model cannot take.
    ft.pos_embed = PosEmbedInterp::None;
    let e = prepare(&r, &ft, w(), &fresh).expect_err("none");
    assert!(
        matches!(&e[..], [InteropError::WeightsShape { key, finetune: true, .. }] if key == "pos_embed"),
        "{e:?}"
    );
    assert!(e[0]
        .describe()
        .help
        .unwrap_or_default()
        .contains("finetune.pos_embed = bicubic"));

    // `from_image` must agree with the file's grid (6 × patch 4 = 24 px).
    ft.pos_embed = PosEmbedInterp::Bicubic;
    ft.from_image = Some(32);
    let e = prepare(&r, &ft, w(), &fresh).expect_err("from_image");
    assert!(
        matches!(&e[..], [InteropError::FromImage { grid: 6, .. }]),
        "{e:?}"
    );
    ft.from_image = Some(24);
    assert!(prepare(&r, &ft, w(), &fresh).is_ok());
}

#[test]
fn a_run_finetuned_from_a_trained_checkpoint_starts_from_its_weights() {
    let dir = temp_dir("interop-run");
    let (pretrain, _) = tiny_recipe(&dir, "pretrain", false, "", &[]);
    let (code, stdout, stderr) = run(&["run", "--quiet", &pretrain.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let ckpt = dir.join("runs/pretrain/001/checkpoint.safetensors");
    assert!(ckpt.is_file(), "{stdout}");

    // One epoch at a tiny learning rate: the accuracy is the checkpoint's, far above chance.
    let short = [
        "optimizer.lr=1e-6",
        "schedule.length=1epoch",
        "schedule.warmup=0epochs",
    ];
    let run_short = |name: &str, from: &Path, quiet: bool| {
        let extra = format!("finetune.from = \"{}\"\n", from.display());
        let sets: Vec<String> = short.map(String::from).to_vec();
        let (path, _) = tiny_recipe(&dir, name, false, &extra, &sets);
        let path = path.display().to_string();
        let mut args = vec!["run", path.as_str()];
        for s in &short {
            args.extend(["--set", s]);
        }
        if quiet {
            args.push("--quiet");
        }
        run(&args)
    };
    let (code, stdout, stderr) = run_short("tuned", &ckpt, false);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("fine-tuning from")
            && stderr.contains("(deitc checkpoint): 32 tensors loaded"),
        "{stderr}"
    );
    let top1 = |out: &str| -> f64 {
        let at = out.find("val top-1 ").expect("top-1") + "val top-1 ".len();
        out[at..at + 6].parse().expect("a number")
    };
    let tuned_top1 = top1(&stdout);
    // The same with `finetune = none`: from scratch.
    let (path, _) = tiny_recipe(&dir, "scratch", false, "", &[]);
    let path = path.display().to_string();
    let mut args = vec!["run", "--quiet", path.as_str()];
    for s in &short {
        args.extend(["--set", s]);
    }
    let (code, scratch_out, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    let scratch_top1 = top1(&scratch_out);
    println!("fine-tuned {tuned_top1}, from scratch {scratch_top1}");
    assert!(tuned_top1 > 0.4, "fine-tuned val top-1 {tuned_top1}");
    assert!(scratch_top1 < 0.3, "from scratch {scratch_top1}");

    // A distilled checkpoint for the plain model: refused before a run directory exists.
    let (code, _, stderr) = run_short("bad", &fixture("vit_distilled.safetensors"), true);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("deit::interop::distilled_into_plain"),
        "{stderr}"
    );
    assert!(!dir.join("runs/bad").exists());
}
