//! Parity of `deitc::model` with timm on the small fixture (img 16, patch 4, C 3, D 64,
//! depth 2, heads 2, MLP 256, 5 classes): eval outputs of the distilled and the plain model,
//! one hard-distillation training step (loss and gradients), and the loss after loading the
//! post-AdamW-step weights.
//!
//! The fixture is read from `tests/fixtures/timm-small/`, else `../shared/fixtures/timm-small/`;
//! when neither exists the fixture tests print a note and pass.
//!
//! Errors (see `Rel`): eval tensors use `max|ours − timm| / max|timm|` ≤ 1e-5; losses and
//! gradients use the elementwise `max_i |ours_i − timm_i| / max(|timm_i|, 1e-3)` ≤ 1e-4. Run
//! with `PARITY_REPORT=1 cargo test --test model_parity -- --nocapture` to print every error
//! without asserting.

use std::path::PathBuf;

use deitc::check::cost::Cost;
use deitc::ir::{Family, Model};
use deitc::model::{
    DeitTiny, DeitTinyDistilled, DistilledDeit, LoadError, Regularization, TensorFile, Vit,
};
use dfdx::nn::{
    BuildModule, Module, NumParams, RecursiveWalker, SaveToSafetensors, TensorCollection,
    TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef, ZeroGrads,
};
use dfdx::prelude::*;

type Distilled = DistilledDeit<4, 48, 64, 192, 2, 256, 18, 5, 2, f32, Cpu>;
type Plain = Vit<4, 48, 64, 192, 2, 256, 17, 5, 2, f32, Cpu>;
type Images = Tensor<(usize, Const<3>, Const<16>, Const<16>), f32, Cpu>;

const FLOOR: f64 = 1e-3;

fn fixture_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let found = ["tests/fixtures/timm-small", "../shared/fixtures/timm-small"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.join("input.safetensors").is_file());
    if found.is_none() {
        eprintln!(
            "note: timm-small fixture not found in tests/fixtures/timm-small or \
             ../shared/fixtures/timm-small; skipping"
        );
    }
    found
}

/// The fixture folder, or return from the test.
macro_rules! fixture {
    () => {
        match fixture_dir() {
            Some(dir) => dir,
            None => return,
        }
    };
}

fn read(dir: &std::path::Path, file: &str) -> TensorFile {
    TensorFile::read(dir.join(file)).expect("fixture file")
}

fn input(dev: &Cpu, dir: &std::path::Path) -> Images {
    let (shape, values) = read(dir, "input.safetensors").f32s("input").expect("input");
    assert_eq!(shape, [3, 3, 16, 16]);
    dev.tensor_from_vec(values, (3, Const, Const, Const))
}

fn distilled(dev: &Cpu, dir: &std::path::Path) -> Distilled {
    let mut m = Distilled::build(dev);
    m.load_timm(dir.join("vit_distilled.safetensors"))
        .expect("load vit_distilled");
    m
}

/// How a tensor is compared; both errors are printed for every tensor.
#[derive(Clone, Copy)]
enum Rel {
    /// `max_i |a_i − b_i| / max(|b_i|, FLOOR)`: losses and gradients.
    Elementwise,
    /// `max_i |a_i − b_i| / max_i |b_i|`: eval activations, whose near-zero entries carry
    /// float32 rounding of the O(1) values around them (an exact f64 model is off by the same).
    Scale,
}

fn check(what: &str, ours: &[f32], theirs: &[f32], rel: Rel, tol: f64) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    let (mut abs, mut elementwise, mut scale) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in ours.iter().zip(theirs) {
        let (a, b) = (f64::from(a), f64::from(b));
        abs = abs.max((a - b).abs());
        elementwise = elementwise.max((a - b).abs() / b.abs().max(FLOOR));
        scale = scale.max(b.abs());
    }
    let scale = abs / scale.max(f64::MIN_POSITIVE);
    println!(
        "{what:<36} max abs {abs:.2e}  rel elementwise {elementwise:.2e}  rel scale {scale:.2e}"
    );
    let err = match rel {
        Rel::Elementwise => elementwise,
        Rel::Scale => scale,
    };
    if std::env::var_os("PARITY_REPORT").is_none() {
        assert!(
            err <= tol,
            "{what}: relative error {err:.3e} > {tol:.0e} (max abs {abs:.3e})"
        );
    }
}

fn check_key(what: &str, ours: &[f32], file: &TensorFile, key: &str, rel: Rel, tol: f64) {
    let (_, theirs) = file.f32s(key).expect("reference tensor");
    check(what, ours, &theirs, rel, tol);
}

fn one_hot(dev: &Cpu, labels: &[i64]) -> Tensor<(usize, Const<5>), f32, Cpu> {
    let mut v = vec![0.0; labels.len() * 5];
    for (i, &l) in labels.iter().enumerate() {
        v[i * 5 + l as usize] = 1.0;
    }
    dev.tensor_from_vec(v, (labels.len(), Const))
}

/// `0.5·CE(cls, labels) + 0.5·CE(dist, teacher_labels)` without a tape.
fn hard_distill_loss(dev: &Cpu, model: &Distilled, x: Images, out: &TensorFile) -> f32 {
    let features = model.try_forward_features(x).expect("forward");
    let (cls, dist) = model.try_heads(features).expect("heads");
    let labels = out.i64s("labels").expect("labels").1;
    let teacher = out.i64s("teacher_labels").expect("teacher_labels").1;
    let lc = cross_entropy_with_logits_loss(cls, one_hot(dev, &labels)).array();
    let dist = dist.expect("a distilled model has dist logits");
    let ld = cross_entropy_with_logits_loss(dist, one_hot(dev, &teacher)).array();
    0.5 * lc + 0.5 * ld
}

/// Every parameter's gradient, by timm name, in f32.
struct NamedGrads<'a, E: Dtype>(&'a Gradients<E, Cpu>, Vec<(String, Vec<f32>)>);

impl<E: Dtype + Into<f64>> TensorVisitor<E, Cpu> for NamedGrads<'_, E>
where
    Cpu: Device<E>,
{
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = E;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, Cpu>,
        (t, name): (&Tensor<S, E, Cpu>, String),
    ) -> Result<Option<Tensor<S, E, Cpu>>, Self::Err> {
        let g = self.0.get(t).as_vec();
        self.1
            .push((name, g.into_iter().map(|v| v.into() as f32).collect()));
        Ok(None)
    }
}

#[test]
fn distilled_eval_outputs_match_timm() {
    let dir = fixture!();
    let dev = Cpu::default();
    let model = distilled(&dev, &dir);
    let x = input(&dev, &dir);
    let out = read(&dir, "outputs_distilled.safetensors");
    let tol = 1e-5;

    let patches = model.patch_embed.try_forward(x.clone()).unwrap(); // (B, N, D)
    check_key(
        "distilled patch_embed_out",
        &patches.as_vec(),
        &out,
        "patch_embed_out",
        Rel::Scale,
        tol,
    );
    let features = model.try_forward_features(x.clone()).unwrap(); // (B, T, D)
    check_key(
        "distilled features",
        &features.as_vec(),
        &out,
        "features",
        Rel::Scale,
        tol,
    );
    let (cls, dist) = model.try_heads(features).unwrap();
    check_key(
        "distilled cls_logits",
        &cls.as_vec(),
        &out,
        "cls_logits",
        Rel::Scale,
        tol,
    );
    check_key(
        "distilled dist_logits",
        &dist.unwrap().as_vec(),
        &out,
        "dist_logits",
        Rel::Scale,
        tol,
    );
    let eval = model.try_forward(x).unwrap();
    check_key(
        "distilled eval_logits",
        &eval.as_vec(),
        &out,
        "eval_logits",
        Rel::Scale,
        tol,
    );
}

#[test]
fn plain_eval_outputs_match_timm() {
    let dir = fixture!();
    let dev = Cpu::default();
    let mut model = Plain::build(&dev);
    model.load_timm(dir.join("vit_plain.safetensors")).unwrap();
    let x = input(&dev, &dir);
    let out = read(&dir, "outputs_plain.safetensors");
    let tol = 1e-5;

    let patches = model.patch_embed.try_forward(x.clone()).unwrap();
    check_key(
        "plain patch_embed_out",
        &patches.as_vec(),
        &out,
        "patch_embed_out",
        Rel::Scale,
        tol,
    );
    let features = model.try_forward_features(x.clone()).unwrap();
    check_key(
        "plain features",
        &features.as_vec(),
        &out,
        "features",
        Rel::Scale,
        tol,
    );
    let (cls, dist) = model.try_heads(features).unwrap();
    assert!(dist.is_none());
    check_key(
        "plain cls_logits",
        &cls.as_vec(),
        &out,
        "cls_logits",
        Rel::Scale,
        tol,
    );
    let eval = model.try_forward(x).unwrap();
    check_key(
        "plain eval_logits",
        &eval.as_vec(),
        &out,
        "eval_logits",
        Rel::Scale,
        tol,
    );
}

#[test]
fn hard_distillation_step_loss_and_gradients_match_timm() {
    let dir = fixture!();
    let dev = Cpu::default();
    let model = distilled(&dev, &dir);
    let x = input(&dev, &dir);
    let out = read(&dir, "outputs_distilled.safetensors");
    let tol = 1e-4;

    let labels = out.i64s("labels").unwrap().1;
    let teacher = out.i64s("teacher_labels").unwrap().1;
    let logits = model
        .try_forward_train(x.trace(model.alloc_grads()), Regularization::default())
        .unwrap();
    let loss_cls = cross_entropy_with_logits_loss(logits.cls, one_hot(&dev, &labels));
    let loss_dist = cross_entropy_with_logits_loss(logits.dist.unwrap(), one_hot(&dev, &teacher));
    check_key(
        "loss_cls",
        &[loss_cls.array()],
        &out,
        "loss_cls",
        Rel::Elementwise,
        tol,
    );
    check_key(
        "loss_dist",
        &[loss_dist.array()],
        &out,
        "loss_dist",
        Rel::Elementwise,
        tol,
    );
    let loss = loss_cls.try_mul(0.5).unwrap() + loss_dist.try_mul(0.5).unwrap();
    check_key("loss", &[loss.array()], &out, "loss", Rel::Elementwise, tol);

    let grads = loss.backward();
    let mut named = NamedGrads(&grads, Vec::new());
    Distilled::iter_tensors(&mut RecursiveWalker {
        m: (&model, String::new()),
        f: &mut named,
    })
    .unwrap();
    assert_eq!(named.1.len(), 35);
    let mut sq = 0.0;
    for (name, g) in &named.1 {
        sq += g.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        check_key(
            &format!("grad.{name}"),
            g,
            &out,
            &format!("grad.{name}"),
            Rel::Elementwise,
            tol,
        );
    }
    check_key(
        "grad_global_norm",
        &[sq.sqrt() as f32],
        &out,
        "grad_global_norm",
        Rel::Elementwise,
        tol,
    );
}

#[test]
fn loss_after_the_adamw_step_matches_timm() {
    let dir = fixture!();
    let dev = Cpu::default();
    let out = read(&dir, "outputs_distilled.safetensors");
    for variant in ["all", "groups"] {
        let mut model = distilled(&dev, &dir);
        model
            .load_timm_tensors(&out, &format!("post_step_{variant}."))
            .unwrap();
        let loss = hard_distill_loss(&dev, &model, input(&dev, &dir), &out);
        let key = format!("loss_after_step_{variant}");
        check_key(&key, &[loss], &out, &key, Rel::Elementwise, 1e-4);
    }
}

fn fixture_ir(distilled: bool) -> Model {
    Model {
        family: Family::Deit,
        patch: 4,
        image: 16,
        channels: 3,
        embed: 64,
        depth: 2,
        heads: 2,
        mlp_ratio: 4.0,
        qkv_bias: true,
        drop_path: 0.0,
        dropout: 0.0,
        distilled,
        classes: 5,
        width: 32,
    }
}

#[test]
fn parameter_counts_match_timm_and_the_cost_model() {
    let dev = Cpu::default();
    let d = Distilled::build(&dev).num_trainable_params();
    let p = Plain::build(&dev).num_trainable_params();
    assert_eq!((d, p), (105_162, 104_709));
    assert_eq!(d as u64, Cost::of(&fixture_ir(true)).params);
    assert_eq!(p as u64, Cost::of(&fixture_ir(false)).params);
    assert_eq!(Distilled::check_ir(&fixture_ir(true)), Ok(()));
    assert_eq!(Plain::check_ir(&fixture_ir(false)), Ok(()));
    let err = Plain::check_ir(&fixture_ir(true)).unwrap_err();
    assert_eq!(err, "distilled: recipe 1, model 0");

    let mut tiny = fixture_ir(false);
    (
        tiny.patch,
        tiny.image,
        tiny.embed,
        tiny.depth,
        tiny.heads,
        tiny.classes,
    ) = (16, 224, 192, 12, 3, 1000);
    let t = DeitTiny::<f32, Cpu>::build(&dev).num_trainable_params();
    assert_eq!(t, 5_717_416);
    assert_eq!(t as u64, Cost::of(&tiny).params);
    assert_eq!(DeitTiny::<f32, Cpu>::check_ir(&tiny), Ok(()));
    tiny.distilled = true;
    let t = DeitTinyDistilled::<f32, Cpu>::build(&dev).num_trainable_params();
    assert_eq!(t, 5_910_800);
    assert_eq!(t as u64, Cost::of(&tiny).params);
}

#[test]
fn init_follows_timm() {
    let dev = Cpu::seed_from_u64(0);
    let m = Distilled::build(&dev);
    let std = |v: Vec<f32>| {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        (v.iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
    };
    let qkv = &m.blocks.modules[0].attn.qkv;
    assert!((std(qkv.weight.as_vec()) - 0.02).abs() < 0.001);
    assert!((std(m.pos_embed.as_vec()) - 0.02).abs() < 0.002);
    assert!(qkv.bias.as_vec().iter().all(|&b| b == 0.0));
    assert!(m.norm.gamma.as_vec().iter().all(|&g| g == 1.0));
    assert_eq!(m.norm.epsilon, 1e-6);
    // Patch embedding: PyTorch's conv default, U(±1/√48).
    let w = m.patch_embed.proj.weight.as_vec();
    let bound = 1.0 / 48f32.sqrt();
    assert!(w.iter().all(|v| v.abs() <= bound));
    assert!((std(w) - f64::from(bound) / 3f64.sqrt()).abs() < 0.005);
}

/// A safetensors file of F32 tensors.
fn safetensors_bytes(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (key, shape, values) in tensors {
        let begin = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        let entry = serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [begin, data.len()]});
        header.insert(key.clone(), entry);
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.into_bytes());
    bytes.extend(data);
    bytes
}

#[test]
fn load_errors_name_the_key_and_both_shapes() {
    let dir = fixture!();
    let dev = Cpu::default();
    let err = Distilled::build(&dev)
        .load_timm(dir.join("vit_plain.safetensors"))
        .unwrap_err();
    assert!(
        matches!(&err, LoadError::Missing { key } if key == "dist_token"),
        "{err}"
    );

    let mut plain = Plain::build(&dev);
    let before = plain.pos_embed.as_vec();
    let err = plain
        .load_timm(dir.join("vit_distilled.safetensors"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`pos_embed` has shape [1, 18, 64] in the checkpoint, but the model expects [1, 17, 64]"
    );
    assert_eq!(
        plain.pos_embed.as_vec(),
        before,
        "a failed load writes nothing"
    );

    // A checkpoint with a tensor the model lacks is refused too.
    let plain_file = read(&dir, "vit_plain.safetensors");
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = plain_file
        .keys()
        .map(|k| {
            let (shape, values) = plain_file.f32s(k).unwrap();
            (k.to_string(), shape, values)
        })
        .collect();
    tensors.push(("extra.weight".into(), vec![2], vec![1.0, 2.0]));
    let file = TensorFile::parse(safetensors_bytes(&tensors)).unwrap();
    let err = plain.load_timm_tensors(&file, "").unwrap_err();
    assert!(
        matches!(&err, LoadError::Unexpected { keys } if keys == &["extra.weight"]),
        "{err}"
    );
    tensors.pop();
    let file = TensorFile::parse(safetensors_bytes(&tensors)).unwrap();
    plain.load_timm_tensors(&file, "").unwrap();

    let err = TensorFile::read(dir.join("missing.safetensors")).unwrap_err();
    assert!(err.to_string().contains("missing.safetensors"), "{err}");
}

#[test]
fn dfdx_safetensors_round_trip_uses_timm_names() {
    let dir = fixture!();
    let dev = Cpu::default();
    let model = distilled(&dev, &dir);
    let path = std::env::temp_dir().join(format!("deitc-model-{}.safetensors", std::process::id()));
    model.save_safetensors(&path).unwrap();
    let saved = TensorFile::read(&path).unwrap();
    let timm = read(&dir, "vit_distilled.safetensors");
    assert_eq!(
        saved.keys().collect::<Vec<_>>(),
        timm.keys().collect::<Vec<_>>()
    );
    let mut back = Distilled::build(&dev);
    back.load_timm(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let x = input(&dev, &dir);
    assert_eq!(
        back.try_forward(x.clone()).unwrap().as_vec(),
        model.try_forward(x).unwrap().as_vec()
    );
}

#[test]
fn train_mode_drop_path_one_skips_the_last_block() {
    let dir = fixture!();
    let dev = Cpu::seed_from_u64(1);
    let model = distilled(&dev, &dir);
    let x = input(&dev, &dir);
    // linspace(0, 1, 2) = [0, 1]: block 1's branches are always dropped, which is the same
    // as zeroing its output projections.
    let reg = Regularization {
        dropout: 0.0,
        drop_path: 1.0,
        seed: 1,
    };
    let train = model.try_forward_train(x.leaky_trace(), reg).unwrap();
    let mut skipped = model.clone();
    let b1 = &mut skipped.blocks.modules[1];
    b1.attn.proj.weight.fill_with_zeros();
    b1.mlp.fc2.weight.fill_with_zeros();
    b1.attn.proj.bias.fill_with_zeros();
    b1.mlp.fc2.bias.fill_with_zeros();
    let (cls, dist) = skipped
        .try_heads(skipped.try_forward_features(x.clone()).unwrap())
        .unwrap();
    assert_eq!(train.cls.as_vec(), cls.as_vec());
    assert_eq!(train.dist.unwrap().as_vec(), dist.unwrap().as_vec());

    // Dropout changes the output in train mode only; gradients still reach every parameter.
    let reg = Regularization {
        dropout: 0.5,
        drop_path: 0.5,
        seed: 2,
    };
    let train = model
        .try_forward_train(x.trace(model.alloc_grads()), reg)
        .unwrap();
    assert_ne!(
        train.cls.as_vec(),
        model
            .try_heads(model.try_forward_features(x).unwrap())
            .unwrap()
            .0
            .as_vec()
    );
    let loss = train.cls.sum() + train.dist.unwrap().sum();
    let grads = loss.backward();
    assert!(grads
        .get(&model.dist.dist_token)
        .as_vec()
        .iter()
        .all(|g| g.is_finite()));
}

type Distilled64 = DistilledDeit<4, 48, 64, 192, 2, 256, 18, 5, 2, f64, Cpu>;

/// The fixture's distilled model in f64, and its input.
fn f64_model(
    dev: &Cpu,
    dir: &std::path::Path,
) -> (Distilled64, Tensor<Rank4<3, 3, 16, 16>, f64, Cpu>) {
    let mut model = Distilled64::build(dev);
    model
        .load_timm(dir.join("vit_distilled.safetensors"))
        .expect("load vit_distilled");
    let (_, x) = read(dir, "input.safetensors").f64s("input").expect("input");
    (model, dev.tensor_from_vec(x, (Const, Const, Const, Const)))
}

#[test]
fn f64_model_matches_timm_to_the_reference_rounding() {
    let dir = fixture!();
    let dev = Cpu::default();
    let (model, x) = f64_model(&dev, &dir);
    let out = read(&dir, "outputs_distilled.safetensors");
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
    let features = model.try_forward_features(x.clone()).unwrap();
    check_key(
        "f64 features",
        &f32s(features.as_vec()),
        &out,
        "features",
        Rel::Scale,
        1e-6,
    );
    let eval = model.try_forward(x).unwrap();
    check_key(
        "f64 eval_logits",
        &f32s(eval.as_vec()),
        &out,
        "eval_logits",
        Rel::Scale,
        1e-6,
    );
}

/// The hard-distillation step of the test above with an f64 model: on the CPU, f64 runs the
/// model from dfdx ops (the path every non-CPU device takes, CUDA included) instead of the
/// fused f32 kernels. Its loss and every gradient match timm's.
#[test]
fn f64_model_hard_distillation_gradients_match_timm() {
    let dir = fixture!();
    let dev = Cpu::default();
    let (model, x) = f64_model(&dev, &dir);
    let out = read(&dir, "outputs_distilled.safetensors");
    let one_hot = |labels: &[i64]| {
        let mut v = vec![0.0f64; labels.len() * 5];
        for (i, &l) in labels.iter().enumerate() {
            v[i * 5 + l as usize] = 1.0;
        }
        dev.tensor_from_vec(v, (labels.len(), Const::<5>))
    };
    let labels = out.i64s("labels").unwrap().1;
    let teacher = out.i64s("teacher_labels").unwrap().1;
    let logits = model
        .try_forward_train(x.trace(model.alloc_grads()), Regularization::default())
        .unwrap();
    let loss_cls = cross_entropy_with_logits_loss(logits.cls, one_hot(&labels));
    let loss_dist = cross_entropy_with_logits_loss(logits.dist.unwrap(), one_hot(&teacher));
    let loss = loss_cls * 0.5 + loss_dist * 0.5;
    let tol = 1e-4;
    check_key(
        "f64 loss",
        &[loss.array() as f32],
        &out,
        "loss",
        Rel::Elementwise,
        tol,
    );
    let grads = loss.backward();
    let mut named = NamedGrads(&grads, Vec::new());
    Distilled64::iter_tensors(&mut RecursiveWalker {
        m: (&model, String::new()),
        f: &mut named,
    })
    .unwrap();
    assert_eq!(named.1.len(), 35);
    for (name, g) in &named.1 {
        check_key(
            &format!("f64 grad.{name}"),
            g,
            &out,
            &format!("grad.{name}"),
            Rel::Elementwise,
            tol,
        );
    }
}

/// Parameters by timm name, as host vectors.
struct NamedParams(Vec<(String, Vec<f32>)>);

impl TensorVisitor<f32, Cpu> for NamedParams {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        self.0.push((name, t.as_vec()));
        Ok(None)
    }
}

/// Fills gradients for every parameter of `model` from the fixture's `grad.<name>` tensors.
struct FixtureGrads<'a>(&'a TensorFile, Gradients<f32, Cpu>);

impl TensorVisitor<f32, Cpu> for FixtureGrads<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        let g = self
            .0
            .f32s(&format!("grad.{name}"))
            .expect("fixture grad")
            .1;
        self.1
            .get_or_alloc_mut(t)
            .expect("alloc")
            .copy_from_slice(&g);
        Ok(None)
    }
}

fn adamw_cfg(no_decay: Vec<deitc::ir::NoDecay>) -> deitc::ir::Optimizer {
    deitc::ir::Optimizer {
        kind: deitc::ir::OptimizerKind::Adamw,
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        momentum: 0.9,
        weight_decay: 0.05,
        no_decay,
        clip_grad: None,
    }
}

fn official_groups() -> Vec<deitc::ir::NoDecay> {
    use deitc::ir::NoDecay::*;
    vec![Bias, Norm, PosEmbed, ClsToken]
}

/// Both optimizer paths: on host copies (the CPU's) and as tensor ops on the device (every
/// other device's, run here on the CPU).
#[test]
fn one_adamw_step_from_timm_gradients_matches_timm_with_and_without_decay_groups() {
    use deitc::train::optimizer::Optimizer;
    let dir = fixture!();
    let dev = Cpu::default();
    let out = read(&dir, "outputs_distilled.safetensors");
    let groups = [("all", vec![]), ("groups", official_groups())];
    for ((variant, no_decay), on_device) in groups
        .into_iter()
        .flat_map(|g| [(g.clone(), false), (g, true)])
    {
        let mut model = distilled(&dev, &dir);
        let mut fill = FixtureGrads(&out, Gradients::leaky());
        Distilled::iter_tensors(&mut RecursiveWalker {
            m: (&model, String::new()),
            f: &mut fill,
        })
        .unwrap();
        let mut opt = Optimizer::new(&adamw_cfg(no_decay));
        let info = if on_device {
            opt.step_on_device(&mut model, &mut fill.1, 1e-3).unwrap()
        } else {
            opt.step_on_host(&mut model, &mut fill.1, 1e-3).unwrap()
        };
        check_key(
            &format!("grad_global_norm (device path: {on_device})"),
            &[info.grad_norm as f32],
            &out,
            "grad_global_norm",
            Rel::Elementwise,
            1e-6,
        );
        let mut params = NamedParams(Vec::new());
        Distilled::iter_tensors(&mut RecursiveWalker {
            m: (&model, String::new()),
            f: &mut params,
        })
        .unwrap();
        assert_eq!(params.0.len(), 35);
        for (name, p) in &params.0 {
            let key = format!("post_step_{variant}.{name}");
            let what = format!("{key} (device path: {on_device})");
            check_key(&what, p, &out, &key, Rel::Elementwise, 1e-5);
        }
    }
}

#[test]
fn a_training_step_with_our_gradients_and_optimizer_reaches_timms_loss() {
    use deitc::train::optimizer::Optimizer;
    let dir = fixture!();
    let dev = Cpu::default();
    let out = read(&dir, "outputs_distilled.safetensors");
    for (variant, no_decay) in [("all", vec![]), ("groups", official_groups())] {
        let mut model = distilled(&dev, &dir);
        let labels = out.i64s("labels").unwrap().1;
        let teacher = out.i64s("teacher_labels").unwrap().1;
        let logits = model
            .try_forward_train(
                input(&dev, &dir).trace(model.alloc_grads()),
                Regularization::default(),
            )
            .unwrap();
        let loss_cls = cross_entropy_with_logits_loss(logits.cls, one_hot(&dev, &labels));
        let loss_dist =
            cross_entropy_with_logits_loss(logits.dist.unwrap(), one_hot(&dev, &teacher));
        let loss = loss_cls.try_mul(0.5).unwrap() + loss_dist.try_mul(0.5).unwrap();
        let mut grads = loss.backward();
        let cfg = adamw_cfg(no_decay);
        let mut opt = Optimizer::new(&cfg);
        let info = opt.step_on_host(&mut model, &mut grads, 1e-3).unwrap();
        check_key(
            "grad_global_norm",
            &[info.grad_norm as f32],
            &out,
            "grad_global_norm",
            Rel::Elementwise,
            1e-4,
        );
        // Parameters are not compared entry by entry here: Adam divides each gradient entry
        // by its own magnitude, so entries whose true gradient is zero (the key bias, by
        // softmax invariance) move by up to lr on float32 noise in either implementation.
        // The loss after the step is the robust end-to-end measure.
        let loss = hard_distill_loss(&dev, &model, input(&dev, &dir), &out);
        let key = format!("loss_after_step_{variant}");
        check_key(&key, &[loss], &out, &key, Rel::Elementwise, 1e-4);
    }
}

#[test]
fn stochastic_depth_masks_depend_only_on_the_step_seed() {
    let dir = fixture!();
    let dev = Cpu::default();
    let model = distilled(&dev, &dir);
    let run = |seed| {
        let reg = Regularization {
            dropout: 0.0,
            drop_path: 0.5,
            seed,
        };
        let x = input(&dev, &dir).leaky_trace();
        model.try_forward_train(x, reg).unwrap().cls.as_vec()
    };
    assert_eq!(run(11), run(11));
    let differs = (0..8).any(|s| run(100 + s) != run(11));
    assert!(differs);
}
