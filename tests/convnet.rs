//! The convolution, the poolings and `ConvNet` (in `deitc::model`), checked against naive
//! host-side references and finite differences; the model's names, parameter count,
//! safetensors round trip and a short training run; and (printed with `--nocapture`) the time
//! of one forward+backward pass.

use std::collections::HashMap;
use std::time::Instant;

use deitc::model::{
    avg_pool2x2, conv3x3, global_avg_pool, to_channels_first, to_channels_last, Conv3x3, ConvNet,
    LoadError, Regularization, TensorFile,
};
use deitc::train::tensor_io::{collect, to_bytes};
use dfdx::nn::{BuildModule, ModelEMA, Module, NumParams, ZeroGrads};
use dfdx::optim::{Adam, AdamConfig, Optimizer};
use dfdx::prelude::*;

/// Host NCHW images `(B, C, H, W)`.
type Nchw<E> = Tensor<(usize, usize, usize, usize), E, Cpu>;

/// PyTorch's `conv2d(x, w, b, padding=1)`, one multiply-add at a time.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f64],
    w: &[f64],
    bias: &[f64],
    (b, c, h, wd): (usize, usize, usize, usize),
    o: usize,
) -> Vec<f64> {
    let mut out = vec![0.0; b * o * h * wd];
    for bi in 0..b {
        for oi in 0..o {
            for y in 0..h {
                for xx in 0..wd {
                    let mut acc = bias[oi];
                    for ci in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (sy, sx) = (y as isize + ky - 1, xx as isize + kx - 1);
                                if sy < 0 || sx < 0 || sy >= h as isize || sx >= wd as isize {
                                    continue;
                                }
                                let xi = ((bi * c + ci) * h + sy as usize) * wd + sx as usize;
                                let wi = ((oi * c + ci) * 3 + ky as usize) * 3 + kx as usize;
                                acc += x[xi] * w[wi];
                            }
                        }
                    }
                    out[((bi * o + oi) * h + y) * wd + xx] = acc;
                }
            }
        }
    }
    out
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn f64s(v: Vec<f32>) -> Vec<f64> {
    v.into_iter().map(f64::from).collect()
}

/// Random f32 conv on a `(b, I, h, w)` input against `naive_conv`.
fn check_conv<const I: usize, const O: usize>(dev: &Cpu, b: usize, h: usize, w: usize) {
    let mut conv = Conv3x3::<I, O, f32, Cpu>::build(dev);
    conv.bias = dev.sample_normal(); // the init's zero bias would hide a bias bug
    let x: Nchw<f32> = dev.sample_normal_like(&(b, I, h, w));
    let x_nhwc = to_channels_last::<_, I, _, _, _>(x.clone()).expect("to channels-last");
    let y = to_channels_first(conv.forward(x_nhwc)).expect("to channels-first");
    assert_eq!(y.shape().concrete(), [b, O, h, w]);
    let want = naive_conv(
        &f64s(x.as_vec()),
        &f64s(conv.weight.as_vec()),
        &f64s(conv.bias.as_vec()),
        (b, I, h, w),
        O,
    );
    let err = max_abs_diff(&f64s(y.as_vec()), &want);
    assert!(err < 1e-5, "conv {I}→{O} on {b}×{h}×{w}: max error {err}");
}

#[test]
fn conv_matches_a_naive_convolution() {
    let dev = Cpu::seed_from_u64(1);
    check_conv::<1, 4>(&dev, 2, 8, 8);
    check_conv::<3, 5>(&dev, 2, 4, 4);
    check_conv::<8, 16>(&dev, 3, 8, 8);
    check_conv::<2, 3>(&dev, 1, 5, 7); // odd, non-square
    check_conv::<3, 2>(&dev, 2, 3, 2);
    check_conv::<4, 2>(&dev, 3, 1, 1); // only the centre tap sees the image
    check_conv::<2, 2>(&dev, 1, 2, 1);
}

#[test]
fn pools_match_host_references() {
    let dev = Cpu::seed_from_u64(2);
    let (b, c, h, w) = (2, 3, 6, 4);
    let x: Nchw<f32> = dev.sample_normal_like(&(b, c, h, w));
    let xs = f64s(x.as_vec());
    let at = |bi: usize, ci: usize, y: usize, xx: usize| xs[((bi * c + ci) * h + y) * w + xx];

    let pooled = to_channels_first(
        avg_pool2x2(to_channels_last::<_, 3, _, _, _>(x.clone()).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(pooled.shape().concrete(), [b, c, h / 2, w / 2]);
    let mut want = Vec::new();
    for bi in 0..b {
        for ci in 0..c {
            for y in 0..h / 2 {
                for xx in 0..w / 2 {
                    let s = at(bi, ci, 2 * y, 2 * xx)
                        + at(bi, ci, 2 * y, 2 * xx + 1)
                        + at(bi, ci, 2 * y + 1, 2 * xx)
                        + at(bi, ci, 2 * y + 1, 2 * xx + 1);
                    want.push(s / 4.0);
                }
            }
        }
    }
    let err = max_abs_diff(&f64s(pooled.as_vec()), &want);
    assert!(err < 1e-6, "avg pool: {err}");

    let global = global_avg_pool(to_channels_last::<_, 3, _, _, _>(x).unwrap()).unwrap();
    assert_eq!(global.shape().concrete(), [b, c]);
    let mut want = Vec::new();
    for bi in 0..b {
        for ci in 0..c {
            let s: f64 = (0..h)
                .flat_map(|y| (0..w).map(move |xx| (y, xx)))
                .map(|(y, xx)| at(bi, ci, y, xx))
                .sum();
            want.push(s / (h * w) as f64);
        }
    }
    let err = max_abs_diff(&f64s(global.as_vec()), &want);
    assert!(err < 1e-6, "global pool: {err}");
}

/// Central differences of `f` at every entry of `params`, against `analytic`.
fn check_gradient(what: &str, params: &[f64], analytic: &[f64], mut f: impl FnMut(&[f64]) -> f64) {
    assert_eq!(params.len(), analytic.len());
    let eps = 1e-6;
    let mut p = params.to_vec();
    for i in 0..p.len() {
        let orig = p[i];
        p[i] = orig + eps;
        let up = f(&p);
        p[i] = orig - eps;
        let down = f(&p);
        p[i] = orig;
        let numeric = (up - down) / (2.0 * eps);
        let err = (numeric - analytic[i]).abs() / analytic[i].abs().max(1.0);
        assert!(
            err < 1e-6,
            "{what}[{i}]: analytic {} numeric {numeric}",
            analytic[i]
        );
    }
}

/// `Σ r ⊙ conv(x)`: a random linear read-out of the NCHW output, so every gradient entry
/// differs.
fn conv_loss<const I: usize, const O: usize, Tp: Tape<f64, Cpu>>(
    x: Tensor<(usize, usize, usize, usize), f64, Cpu, Tp>,
    weight: &Tensor<Rank4<O, I, 3, 3>, f64, Cpu>,
    bias: &Tensor<Rank1<O>, f64, Cpu>,
    r: &Nchw<f64>,
) -> Tensor<Rank0, f64, Cpu, Tp> {
    let x = to_channels_last::<_, I, _, _, _>(x).expect("to channels-last"); // (B, H, W, I)
    let y = conv3x3(x, weight, bias).expect("conv"); // (B, H, W, O)
    let y = to_channels_first(y).expect("to channels-first"); // (B, O, H, W)
    let r = r.clone().reshape_like(y.shape());
    (y * r).sum()
}

#[test]
fn conv_gradients_match_finite_differences() {
    const I: usize = 2;
    const O: usize = 3;
    let dev = Cpu::seed_from_u64(3);
    let (b, h, w) = (2, 3, 4);
    let x: Nchw<f64> = dev.sample_normal_like(&(b, I, h, w));
    let weight: Tensor<Rank4<O, I, 3, 3>, f64, Cpu> = dev.sample_normal();
    let bias: Tensor<Rank1<O>, f64, Cpu> = dev.sample_normal();
    // loss = Σ r ⊙ conv(x): a random linear read-out, so every gradient entry differs.
    let r: Nchw<f64> = dev.sample_normal_like(&(b, O, h, w));

    let loss_of = |x: Nchw<f64>, weight: &_, bias: &_| conv_loss(x, weight, bias, &r).array();
    let loss = conv_loss(x.leaky_trace(), &weight, &bias, &r);
    let grads = loss.backward();
    let (gx, gw, gb) = (
        grads.get(&x).as_vec(),
        grads.get(&weight).as_vec(),
        grads.get(&bias).as_vec(),
    );

    check_gradient("input", &x.as_vec(), &gx, |p| {
        let x = dev.tensor_from_vec(p.to_vec(), (b, I, h, w));
        loss_of(x, &weight, &bias)
    });
    check_gradient("weight", &weight.as_vec(), &gw, |p| {
        let mut w2 = weight.clone();
        w2.copy_from(p);
        loss_of(x.clone(), &w2, &bias)
    });
    check_gradient("bias", &bias.as_vec(), &gb, |p| {
        let mut b2 = bias.clone();
        b2.copy_from(p);
        loss_of(x.clone(), &weight, &b2)
    });
}

type Tiny<E> = ConvNet<2, 4, 3, 4, 3, E, Cpu>;

/// `Σ r ⊙ model(x)`.
fn model_loss<Tp: Tape<f64, Cpu>>(
    model: &Tiny<f64>,
    x: Tensor<(usize, usize, usize, usize), f64, Cpu, Tp>,
    r: &Tensor<(usize, Const<3>), f64, Cpu>,
) -> Tensor<Rank0, f64, Cpu, Tp> {
    (model.forward(x) * r.clone()).sum()
}

#[test]
fn model_input_gradient_matches_finite_differences() {
    // Convs, ReLUs, both poolings and the head, end to end in f64.
    let dev = Cpu::seed_from_u64(4);
    let mut model = Tiny::<f64>::build(&dev);
    // Non-zero biases keep the ReLUs away from ties at exactly 0.
    model.stage0.conv0.bias = dev.sample_normal();
    model.stage0.conv1.bias = dev.sample_normal();
    model.stage1.conv0.bias = dev.sample_normal();
    model.stage1.conv1.bias = dev.sample_normal();
    let (b, c, img) = (2, 2, 4);
    let x: Nchw<f64> = dev.sample_normal_like(&(b, c, img, img));
    let r: Tensor<(usize, Const<3>), f64, Cpu> = dev.sample_normal_like(&(b, Const));
    let grads = model_loss(&model, x.leaky_trace(), &r).backward();
    check_gradient("image", &x.as_vec(), &grads.get(&x).as_vec(), |p| {
        model_loss(
            &model,
            dev.tensor_from_vec(p.to_vec(), (b, c, img, img)),
            &r,
        )
        .array()
    });
}

#[test]
fn model_shapes_names_and_parameter_count() {
    const C: usize = 3;
    const W1: usize = 8;
    const W2: usize = 16;
    const K: usize = 5;
    type Net = ConvNet<C, 8, W1, W2, K, f32, Cpu>;
    assert_eq!((Net::CHANNELS, Net::IMAGE), (3, 8));
    let dev = Cpu::seed_from_u64(5);
    let model = Net::build(&dev);

    let x: Nchw<f32> = dev.sample_normal_like(&(4, C, 8, 8));
    let y = model.forward(x.clone());
    assert_eq!(y.shape().concrete(), [4, K]);
    // A const-shaped input works too.
    let xc: Tensor<Rank4<2, C, 8, 8>, f32, Cpu> = dev.sample_normal();
    assert_eq!(model.forward(xc).shape().concrete(), [2, K]);

    let params =
        9 * C * W1 + W1 + 9 * W1 * W1 + W1 + 9 * W1 * W2 + W2 + 9 * W2 * W2 + W2 + W2 * K + K;
    assert_eq!(model.num_trainable_params(), params);

    // dfdx's EMA walks the same tensors: halfway between two models.
    let other = Net::build(&dev);
    let mut ema = model.clone();
    ema.try_ema(&other, 0.5).expect("ema");
    let (a, b, m) = (
        model.head.weight.as_vec(),
        other.head.weight.as_vec(),
        ema.head.weight.as_vec(),
    );
    assert!(a
        .iter()
        .zip(&b)
        .zip(&m)
        .all(|((a, b), m)| (0.5 * (a + b) - m).abs() < 1e-7));

    let names: Vec<(String, Vec<usize>)> = collect(&model, "")
        .expect("collect")
        .into_iter()
        .map(|t| (t.name, t.shape))
        .collect();
    let want: Vec<(String, Vec<usize>)> = [
        ("stages.0.0.weight", vec![W1, C, 3, 3]),
        ("stages.0.0.bias", vec![W1]),
        ("stages.0.1.weight", vec![W1, W1, 3, 3]),
        ("stages.0.1.bias", vec![W1]),
        ("stages.1.0.weight", vec![W2, W1, 3, 3]),
        ("stages.1.0.bias", vec![W2]),
        ("stages.1.1.weight", vec![W2, W2, 3, 3]),
        ("stages.1.1.bias", vec![W2]),
        ("head.weight", vec![K, W2]),
        ("head.bias", vec![K]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(names, want);

    // Init: conv weights N(0, 2 / (Cout·9)), zero biases, head trunc-normal 0.02.
    let std = |v: Vec<f32>| {
        let n = v.len() as f64;
        (v.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>() / n).sqrt()
    };
    let s = std(model.stage1.conv1.weight.as_vec());
    let want = (2.0 / (9 * W2) as f64).sqrt();
    assert!(
        (s / want - 1.0).abs() < 0.1,
        "conv init std {s}, want {want}"
    );
    assert!(model.stage1.conv1.bias.as_vec().iter().all(|&v| v == 0.0));
    let s = std(model.head.weight.as_vec());
    assert!((s / 0.02 - 1.0).abs() < 0.3, "head init std {s}");

    // Train mode without dropout is eval mode; with dropout it differs.
    let eval = y.as_vec();
    let t = model
        .try_forward_train(x.clone().leaky_trace(), Regularization::default())
        .unwrap();
    assert!(t.dist.is_none());
    assert_eq!(t.cls.as_vec(), eval);
    let reg = Regularization {
        dropout: 0.5,
        ..Default::default()
    };
    let t = model.try_forward_train(x.leaky_trace(), reg).unwrap();
    assert_ne!(t.cls.as_vec(), eval);
}

#[test]
fn model_round_trips_through_safetensors() {
    type Net = ConvNet<1, 8, 4, 6, 3, f32, Cpu>;
    let dev = Cpu::seed_from_u64(6);
    let model = Net::build(&dev);
    let bytes = to_bytes(&collect(&model, "model.").unwrap(), HashMap::new()).unwrap();
    let file = TensorFile::parse(bytes).unwrap();

    let mut loaded = Net::build(&Cpu::seed_from_u64(7));
    let x: Nchw<f32> = dev.sample_normal_like(&(3, 1, 8, 8));
    assert_ne!(
        loaded.forward(x.clone()).as_vec(),
        model.forward(x.clone()).as_vec()
    );
    loaded.load_timm_tensors(&file, "model.").unwrap();
    assert_eq!(
        loaded.forward(x.clone()).as_vec(),
        model.forward(x).as_vec()
    );
    assert_eq!(
        loaded.stage0.conv0.weight.as_vec(),
        model.stage0.conv0.weight.as_vec()
    );

    // Strict: a model of another width rejects the file and keeps its own tensors.
    let mut other = ConvNet::<1, 8, 4, 5, 3, f32, Cpu>::build(&dev);
    let before = other.stage1.conv0.weight.as_vec();
    match other.load_timm_tensors(&file, "model.") {
        Err(LoadError::Shape { key, .. }) => assert_eq!(key, "model.stages.1.0.weight"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert_eq!(other.stage1.conv0.weight.as_vec(), before);
}

/// Two classes of 8×8 one-channel images: bright top half or bright bottom half, plus noise.
fn synthetic_batch(
    dev: &Cpu,
    n: usize,
    seed: u64,
) -> (Nchw<f32>, Tensor<(usize, Const<2>), f32, Cpu>) {
    let noise: Nchw<f32> = Cpu::seed_from_u64(seed).sample_normal_like(&(n, 1, 8, 8));
    let noise = noise.as_vec();
    let mut images = Vec::with_capacity(n * 64);
    let mut targets = Vec::with_capacity(n * 2);
    for i in 0..n {
        let class = i % 2;
        for y in 0..8 {
            for x in 0..8 {
                let bright = (y < 4) == (class == 0);
                images.push(if bright { 1.0 } else { 0.0 } + 0.5 * noise[i * 64 + y * 8 + x]);
            }
        }
        targets.extend(if class == 0 { [1.0, 0.0] } else { [0.0, 1.0] });
    }
    (
        dev.tensor_from_vec(images, (n, 1, 8, 8)),
        dev.tensor_from_vec(targets, (n, Const)),
    )
}

#[test]
fn a_short_training_run_lowers_the_loss() {
    type Net = ConvNet<1, 8, 8, 8, 2, f32, Cpu>;
    let dev = Cpu::seed_from_u64(8);
    let mut model = Net::build(&dev);
    let mut opt = Adam::new(
        &model,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let mut grads = model.alloc_grads();
    let reg = Regularization {
        dropout: 0.1,
        ..Default::default()
    };
    let (val_x, val_y) = synthetic_batch(&dev, 64, 1000);
    let val_loss =
        |m: &Net| cross_entropy_with_logits_loss(m.forward(val_x.clone()), val_y.clone()).array();
    let first = val_loss(&model);
    for step in 0..40 {
        let (x, y) = synthetic_batch(&dev, 16, step);
        let logits = model.try_forward_train(x.traced(grads), reg).unwrap();
        let loss = cross_entropy_with_logits_loss(logits.cls, y);
        grads = loss.backward();
        opt.update(&mut model, &grads).unwrap();
        model.zero_grads(&mut grads);
    }
    let last = val_loss(&model);
    println!("validation loss {first:.4} → {last:.4}");
    assert!(last < 0.5 * first && last < 0.3, "loss {first} → {last}");
}

#[test]
fn forward_backward_timing() {
    // Not asserted: printed with `cargo test --test convnet -- --nocapture`.
    type Net = ConvNet<1, 8, 32, 64, 10, f32, Cpu>;
    let dev = Cpu::seed_from_u64(9);
    let model = Net::build(&dev);
    let mut grads = model.alloc_grads();
    let x: Nchw<f32> = dev.sample_normal_like(&(32, 1, 8, 8));
    let y: Tensor<(usize, Const<10>), f32, Cpu> =
        dev.sample_normal_like(&(32, Const)).softmax::<Axis<1>>();
    let step = |grads: Gradients<f32, Cpu>| {
        let logits = model.forward(x.clone().traced(grads));
        let g = cross_entropy_with_logits_loss(logits, y.clone()).backward();
        let mut g = g;
        model.zero_grads(&mut g);
        g
    };
    // Warm up dfdx's allocation cache and rayon's threads first.
    for _ in 0..5 {
        grads = step(grads);
    }
    let n = 50;
    let start = Instant::now();
    for _ in 0..n {
        grads = step(grads);
    }
    let fb = start.elapsed().as_secs_f64() * 1e3 / n as f64;
    let start = Instant::now();
    for _ in 0..n {
        let _ = model.forward(x.clone());
    }
    let fwd = start.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!(
        "ConvNet<1, 8, 32, 64, 10> batch 32: forward+backward {fb:.2} ms, forward {fwd:.2} ms"
    );
}
