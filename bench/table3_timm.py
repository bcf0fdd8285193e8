#!/usr/bin/env python3
"""The DeiT paper's Table 3 (distillation ablation) on Fashion-MNIST, in PyTorch + timm.

The PyTorch reference for `recipes/fashion_mnist_table3.deit`: the same rows, trained as
deitc trains them, so that deitc's numbers can be put next to a timm run of the same recipe.

    /work/torchenv/bin/python bench/table3_timm.py --out results.json
    /work/torchenv/bin/python bench/table3_timm.py --rows vit --seeds 0   # one run
    # the settings before 2026-12-07 (width-8 teacher, soft row at α 0.5, τ 1):
    /work/torchenv/bin/python bench/table3_timm.py --conv-width 8 --alpha 0.5 --tau 1

Rows (`--rows`, default all):

| row          | what trains                                                              | recipe |
|--------------|--------------------------------------------------------------------------|--------|
| `teacher`    | the convnet teacher, seed 0 only (its best epoch teaches rows 3-5)       | fashion_mnist_convnet.deit |
| `vit`        | the micro-DeiT, no distillation                                          | fashion_mnist_vit.deit |
| `soft`       | no distillation token: `(1-a)·CE_ls(cls, y) + a·KL(t‖s)·τ²/(B·K)` on the class head, a = 0.1, τ = 3 | + `distill.mode = soft` |
| `hard`       | no distillation token: `(1-a)·CE_ls(cls, y) + a·CE(cls, argmax t)`        | + `distill.mode = hard` |
| `hard_token` | distillation token: `(1-a)·CE_ls(cls, y) + a·CE(dist, argmax t)`, evaluated with the class head, the distillation head and their average | fashion_mnist_deit_distilled.deit |

What is matched, from deitc's source (crates/backend/src/…):

* data (`data/idx.rs`, `data/source.rs`, `data/loader.rs`, `data/transform.rs`): the IDX
  files, each 28×28 image resized once to 16×16 with PIL's (antialiased) bicubic and its gray
  plane repeated in 3 channels, train and val alike (at ≤ 32 px eval does no resize + center
  crop: `data.eval_crop` is unused); `(v/255 − 0.2860)/0.3530` in f32; per epoch a random
  permutation, batches of 128, the last partial batch dropped (468 steps per epoch);
  horizontal flip with p = 0.5 per sample; no crop, no RandAugment, no mixing, no erasing,
  `augment.repeated = 1` (no RASampler); eval over the whole val split every epoch;
* models (`model/`): timm's `VisionTransformer` / `VisionTransformerDistilled` (patch 4,
  16 px, 3 channels, embed 64, depth 2, 2 heads, MLP 256, qkv bias, LayerNorm eps 1e-6,
  exact GELU, drop_path 0, dropout 0) with deitc's init, which is timm 0.3.2's: trunc-normal
  0.02 for Linear weights, `pos_embed`, `cls_token`, `dist_token` (timm ≥ 0.9 draws
  `cls_token` from N(0, 1e-6²): overridden here), zero biases, LayerNorm 1/0, PyTorch's
  Conv2d default for the patch embedding; deitc's convnet (`model/convnet.rs`, `conv.rs`):
  at width W (`model.width`, `--conv-width`: the recipe's 16, 16,986 parameters; 8 before
  2026-12-07, 4,466) conv3×3(3→W, pad 1) ReLU conv3×3(W→W) ReLU avgpool 2×2, conv3×3(W→2W)
  ReLU conv3×3(2W→2W) ReLU, global average pool, Linear(2W→10); convs Kaiming-normal fan-out
  (ReLU gain) with zero biases, the head trunc-normal 0.02 with a zero bias;
* losses (`train/losses.rs`, `train/graph.rs`): label-smoothed (0.1) soft-target CE on the
  class head; hard distillation: unsmoothed CE against the teacher's argmax; soft: KL at
  temperature τ summed and divided by B·K, times τ² (the official `numel` normalisation);
  total `(1−α)·base + α·kd`, α and τ per row as the table3 recipe's sweep (soft: α = 0.1,
  τ = 3; hard: α = 0.5; `--alpha`, `--tau` override them); without a distillation token
  the class head takes both terms; the teacher runs in eval mode, without gradients, on the
  student's (flipped, normalised) batch;
* optimisation (`train/optimizer/`, `train/schedule.rs`): `torch.optim.AdamW` (betas 0.9,
  0.999, eps 1e-8, weight decay 0.05), no decay on biases, norms, `pos_embed`, `cls_token`
  (deitc's default `optimizer.no_decay`; `dist_token` **is** decayed, as in deitc); learning
  rate set before every step (`schedule.unit = steps`): `warmup_lr + t·(lr − warmup_lr)/W` for
  `t < W` = 1 epoch, then `min_lr + ½(lr − min_lr)(1 + cos(π·t/T))` (not shifted by the
  warmup), `warmup_lr` 1e-6, `min_lr` 1e-5, T = 4 epochs; lr 3e-3 (students), 5e-3
  (teacher); no EMA, no gradient clipping;
* the teacher of rows 3-5 is the torch teacher's **best** epoch (`stage.teacher.best`, deitc's
  `best.safetensors`: the epoch with the highest val top-1), or `--teacher-checkpoint`.

What necessarily differs: the random streams (initialisation, data order, flips: torch's
generators instead of deitc's, so seed s here is not deitc's seed s); the arithmetic order of
the kernels (deitc's fused CPU ops vs torch's); timing covers model build, training and the
per-epoch evaluations, not the one-off data loading (reported apart as `data_s`), while
deitc's `wall_s` includes its own loading (about a second).

Prints a table (final val top-1 mean ± sample std over the seeds, and wall time per run) and
writes every run's per-epoch metrics to `--out` (rewritten after every run, so a long run
can be polled). CI never runs this; deitc never needs PyTorch.
"""
import argparse
import copy
import gzip
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

# On a shared machine OpenMP's default busy-waiting makes 2 torch threads 2-4x slower than
# 1 (measured here: 240 against 68 ms per micro-DeiT step); passive waiting is read when
# libgomp starts, so it is set before torch is imported (an explicit setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

import timm  # noqa: E402
from timm.layers import trunc_normal_  # noqa: E402
from timm.models.deit import VisionTransformerDistilled  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

ROWS = ["teacher", "vit", "soft", "hard", "hard_token"]
ROW_TITLES = {
    "teacher": "teacher (convnet)",
    "vit": "no distillation",
    "soft": "usual soft distillation",
    "hard": "usual hard distillation",
    "hard_token": "hard + distillation token",
}
# The recipes' values (recipes/fashion_mnist_vit.deit, fashion_mnist_convnet.deit,
# fashion_mnist_deit_distilled.deit) and deitc's defaults (docs/language.md).
IMAGE, PATCH, CHANNELS, EMBED, DEPTH, HEADS, CLASSES = 16, 4, 3, 64, 2, 2, 10
CONV_WIDTH = 16  # fashion_mnist_convnet.deit: `width = 16` (8 before 2026-12-07)
MEAN, STD = 0.2860, 0.3530
BATCH = 128
HFLIP = 0.5
LABEL_SMOOTHING = 0.1
WEIGHT_DECAY = 0.05
BETAS, EPS = (0.9, 0.999), 1e-8
LR_STUDENT, LR_TEACHER = 3e-3, 5e-3
EPOCHS, WARMUP_EPOCHS = 4, 1
# (distill.alpha, distill.tau) per row, as the sweep of recipes/fashion_mnist_table3.deit:
# the usual soft row takes the paper's τ = 3, λ = 0.1; the hard rows deitc's defaults.
ROW_DISTILL = {"soft": (0.1, 3.0), "hard": (0.5, 1.0), "hard_token": (0.5, 1.0)}
WARMUP_LR, MIN_LR = 1e-6, 1e-5


# ---------------------------------------------------------------------------------------
# Data


def idx_file(root, stem):
    """The IDX file `stem` under `root` (or torchvision's `root/FashionMNIST/raw`): the plain
    file wins over the gzipped one, as in deitc."""
    for folder in (root, os.path.join(root, "FashionMNIST", "raw")):
        for name in (stem, stem + ".gz"):
            p = os.path.join(folder, name)
            if os.path.isfile(p):
                return p
    sys.exit(f"error: no {stem}[.gz] under {root}")


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    header = 4 + 4 * len(dims)
    arr = np.frombuffer(data, dtype=np.uint8, offset=header)
    assert arr.size == int(np.prod(dims)), f"{path}: length does not match the header"
    return arr.reshape(dims)


def load_split(root, prefix):
    """(N, 1, 16, 16) normalised f32 images and (N,) int64 labels: each 28×28 image resized
    with PIL's bicubic (deitc's `Fit::Square`, PIL-exact), then `(v/255 − mean)/std` in f32.
    The gray plane is repeated to 3 channels per batch (`expand`), as deitc's repeat."""
    images = read_idx(idx_file(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(idx_file(root, f"{prefix}-labels-idx1-ubyte"))
    small = np.stack([
        np.asarray(Image.fromarray(img, "L").resize((IMAGE, IMAGE), Image.Resampling.BICUBIC))
        for img in images
    ])
    x = torch.from_numpy(small).float().div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1)
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def rgb(x):
    return x.expand(-1, CHANNELS, -1, -1).contiguous()


# ---------------------------------------------------------------------------------------
# Models


class ConvNet(nn.Module):
    """deitc's `family = convnet` (crates/backend/src/model/convnet.rs), with its tensor names:
    `stages.{0,1}.{0,1}.weight|bias`, `head.weight|bias`."""

    def __init__(self, channels=CHANNELS, width=CONV_WIDTH, classes=CLASSES, dropout=0.0):
        super().__init__()
        w1, w2 = width, 2 * width

        def conv(i, o):
            c = nn.Conv2d(i, o, 3, padding=1)
            nn.init.kaiming_normal_(c.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(c.bias)
            return c

        self.stages = nn.ModuleList([
            nn.ModuleList([conv(channels, w1), conv(w1, w1)]),
            nn.ModuleList([conv(w1, w2), conv(w2, w2)]),
        ])
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(w2, classes)
        trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        for i, stage in enumerate(self.stages):
            for c in stage:
                x = F.relu(c(x))
            x = F.avg_pool2d(x, 2) if i == 0 else x.mean(dim=(2, 3))
        return self.head(self.drop(x))


def make_vit(distilled):
    cls = VisionTransformerDistilled if distilled else VisionTransformer
    m = cls(img_size=IMAGE, patch_size=PATCH, in_chans=CHANNELS, num_classes=CLASSES,
            embed_dim=EMBED, depth=DEPTH, num_heads=HEADS, mlp_ratio=4.0, qkv_bias=True,
            drop_rate=0.0, drop_path_rate=0.0)
    # deitc (and timm 0.3.2, the official DeiT's): cls_token trunc-normal 0.02; timm >= 0.9
    # draws it from N(0, 1e-6²). Everything else already matches.
    trunc_normal_(m.cls_token, std=0.02)
    if distilled:
        m.set_distilled_training(True)  # train mode returns (cls, dist) logits
    return m


def heads(model, x, distilled):
    """Eval-mode logits of every head: {"cls"} or {"cls", "dist", "avg"}."""
    if not distilled:
        return {"cls": model(x)}
    f = model.forward_features(x)
    c, d = model.head(f[:, 0]), model.head_dist(f[:, 1])
    return {"cls": c, "dist": d, "avg": (c + d) / 2}


def decays(name):
    """deitc's `Optimizer::decays` with the default `no_decay = [bias, norm, pos_embed,
    cls_token]`."""
    leaf = name.rsplit(".", 1)[-1]
    in_norm = any(part.startswith("norm") for part in name.split("."))
    return not (leaf == "bias" or in_norm or name in ("pos_embed", "cls_token"))


# ---------------------------------------------------------------------------------------
# Training


def lr_at(t, base, warmup, length):
    """deitc's `LrSchedule::f` (cosine, unit = steps), `t` the 0-based global step."""
    if t < warmup:
        return WARMUP_LR + t * (base - WARMUP_LR) / warmup
    progress = min(t / length, 1.0)
    return MIN_LR + 0.5 * (base - MIN_LR) * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model, x, y, distilled, batch=BATCH):
    model.eval()
    correct, loss, n = {}, {}, len(y)
    for i in range(0, n, batch):
        xb, yb = rgb(x[i:i + batch]), y[i:i + batch]
        for k, logits in heads(model, xb, distilled).items():
            correct[k] = correct.get(k, 0) + (logits.argmax(1) == yb).sum().item()
            loss[k] = loss.get(k, 0.0) + F.cross_entropy(logits, yb, reduction="sum").item()
    return {k: correct[k] / n for k in correct}, {k: loss[k] / n for k in loss}


def train(row, seed, data, epochs, teacher=None, alpha=0.5, tau=1.0, width=CONV_WIDTH,
          log=print):
    """Trains one row at one seed; returns its record (and the model, for the teacher)."""
    (xt, yt), (xv, yv) = data
    mode = {"soft": "soft", "hard": "hard", "hard_token": "hard"}.get(row, "none")
    distilled = row == "hard_token"
    t0 = time.perf_counter()
    torch.manual_seed(seed)  # initialisation
    gen = torch.Generator().manual_seed(seed)  # data order and flips
    if row == "teacher":
        model, base_lr = ConvNet(width=width), LR_TEACHER
    else:
        model, base_lr = make_vit(distilled), LR_STUDENT
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named if decays(n)], "weight_decay": WEIGHT_DECAY},
         {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}],
        lr=WARMUP_LR, betas=BETAS, eps=EPS)
    n = len(yt)
    spe = n // BATCH  # drop_last
    warmup, length = WARMUP_EPOCHS * spe, epochs * spe
    # With `eval_head = average` (deitc's default) the reported head of the token row is avg.
    report = "avg" if distilled else "cls"
    epochs_out, best, best_state = [], -1.0, None
    for epoch in range(epochs):
        model.train()
        te = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        loss_sum, kd_sum, agree = 0.0, 0.0, 0
        for step in range(spe):
            idx = perm[step * BATCH:(step + 1) * BATCH]
            x, y = xt[idx], yt[idx]
            flip = torch.rand(BATCH, generator=gen) < HFLIP
            x = rgb(torch.where(flip[:, None, None, None], x.flip(3), x))
            lr = lr_at(epoch * spe + step, base_lr, warmup, length)
            for g in opt.param_groups:
                g["lr"] = lr
            out = model(x)
            cls_logits, dist_logits = out if distilled else (out, out)
            base = F.cross_entropy(cls_logits, y, label_smoothing=LABEL_SMOOTHING)
            loss = base
            if mode != "none":
                with torch.no_grad():
                    t = teacher(x)
                t_top = t.argmax(1)
                agree += (t_top == y).sum().item()
                if mode == "soft":
                    kd = F.kl_div(F.log_softmax(dist_logits / tau, dim=1),
                                  F.log_softmax(t / tau, dim=1),
                                  reduction="sum", log_target=True) * (tau * tau) / dist_logits.numel()
                else:
                    kd = F.cross_entropy(dist_logits, t_top)
                loss = (1 - alpha) * base + alpha * kd
                kd_sum += kd.item() * BATCH
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * BATCH
        train_s = time.perf_counter() - te
        top1, vloss = evaluate(model, xv, yv, distilled)
        rec = {"epoch": epoch + 1, "step": (epoch + 1) * spe, "lr": lr,
               "train_loss": loss_sum / (spe * BATCH), "val_top1": top1[report],
               "val_loss": vloss[report], "img_per_s": spe * BATCH / train_s,
               "wall_s": time.perf_counter() - t0}
        if distilled:
            rec["val_top1_heads"] = top1
        if mode != "none":
            rec["teacher_agreement"] = agree / (spe * BATCH)
            rec["teacher_share"] = alpha * kd_sum / loss_sum
        epochs_out.append(rec)
        if top1[report] > best:  # deitc writes best.safetensors on an improvement
            best = top1[report]
            if row == "teacher":
                best_state = copy.deepcopy(model.state_dict())
        heads_txt = ("  heads " + " ".join(f"{k} {v:.4f}" for k, v in top1.items())
                     if distilled else "")
        log(f"  {row} seed {seed} · epoch {epoch + 1}/{epochs} · loss {rec['train_loss']:.4f} · "
            f"lr {lr:.2e} · val top-1 {top1[report]:.4f}{heads_txt} · "
            f"{rec['img_per_s']:.0f} img/s · {rec['wall_s']:.0f}s")
    wall = time.perf_counter() - t0
    last = epochs_out[-1]
    record = {"row": row, "seed": seed, "params": sum(p.numel() for p in model.parameters()),
              "steps": epochs * spe, "final_top1": last["val_top1"], "best_top1": best,
              "wall_s": wall, "epochs": epochs_out}
    if distilled:
        record["final_top1_heads"] = last["val_top1_heads"]
    if row == "teacher":
        model.load_state_dict(best_state)
        model.eval()
        return record, model
    return record, None


def load_teacher(path, width=CONV_WIDTH):
    """A convnet teacher from a deitc checkpoint (`model.<name>` safetensors) or from a
    `state_dict` this script saved (`--save-teacher`, `.pt`)."""
    m = ConvNet(width=width)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        sd = {k[len("model."):]: v for k, v in load_file(path).items() if k.startswith("model.")}
    else:
        sd = torch.load(path, map_location="cpu")
    m.load_state_dict(sd)
    return m.eval()


# ---------------------------------------------------------------------------------------
# Report


def summarise(runs):
    """Per row (and per head of the token row): the final top-1 over the seeds."""
    out = []
    for row in ROWS:
        rs = [r for r in runs if r["row"] == row]
        if not rs:
            continue
        variants = [(None, "final_top1")]
        if row == "hard_token":
            variants = [("avg", "avg"), ("cls", "cls"), ("dist", "dist")]
        for head, key in variants:
            accs = [r["final_top1"] if head is None else r["final_top1_heads"][key] for r in rs]
            out.append({
                "row": row, "head": head, "seeds": [r["seed"] for r in rs], "top1": accs,
                "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "wall_s": [r["wall_s"] for r in rs],
                "wall_s_mean": statistics.mean(r["wall_s"] for r in rs),
            })
    return out


def print_table(summary):
    print()
    print(f"{'row':38} {'seeds':>5}  {'val top-1 (%)':>15}  {'per seed':24} {'wall s/run':>10}")
    for s in summary:
        title = ROW_TITLES[s["row"]] + (f", {s['head']} head" if s["head"] else "")
        pm = f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"
        per = " ".join(f"{100 * a:.2f}" for a in s["top1"])
        print(f"{title:38} {len(s['top1']):>5}  {pm:>15}  {per:24} {s['wall_s_mean']:>10.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=EPOCHS,
                   help="schedule.length in epochs (warmup stays 1 epoch); default 4")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--rows", nargs="+", choices=ROWS, default=ROWS)
    p.add_argument("--alpha", type=float,
                   help="distill.alpha of every distilled row (default: soft 0.1, hard 0.5)")
    p.add_argument("--tau", type=float, help="distill.tau of the soft row (default 3)")
    p.add_argument("--conv-width", type=int, default=CONV_WIDTH,
                   help="the convnet teacher's model.width (default 16, the recipe's)")
    p.add_argument("--teacher-seed", type=int, default=0)
    p.add_argument("--teacher-checkpoint",
                   help="teach rows 3-5 with this convnet instead of training one: a deitc "
                        "checkpoint (.safetensors) or a --save-teacher file (.pt)")
    p.add_argument("--save-teacher", help="save the torch teacher's best state_dict here")
    p.add_argument("--out", help="write every result here as JSON")
    a = p.parse_args()
    if a.epochs <= WARMUP_EPOCHS:
        p.error(f"--epochs must exceed the {WARMUP_EPOCHS}-epoch warmup (deit::rule::warmup)")
    torch.set_num_threads(a.threads)

    def log(msg):
        print(msg, flush=True)

    t0 = time.perf_counter()
    data = (load_split(a.data, "train"), load_split(a.data, "t10k"))
    data_s = time.perf_counter() - t0
    log(f"data: {len(data[0][1])} train / {len(data[1][1])} val at {IMAGE}px in {data_s:.1f}s · "
        f"torch {torch.__version__} · timm {timm.__version__} · {torch.get_num_threads()} threads")

    result = {
        "config": {"rows": a.rows, "seeds": a.seeds, "epochs": a.epochs, "threads": a.threads,
                   "alpha": a.alpha, "tau": a.tau, "row_distill": ROW_DISTILL,
                   "conv_width": a.conv_width, "batch": BATCH,
                   "steps_per_epoch": len(data[0][1]) // BATCH,
                   "teacher_seed": a.teacher_seed, "teacher_checkpoint": a.teacher_checkpoint},
        "env": {"torch": torch.__version__, "timm": timm.__version__,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                "python": platform.python_version(), "machine": platform.machine(),
                "cpus": os.cpu_count()},
        "data_s": data_s, "runs": [],
    }

    def save():
        result["summary"] = summarise(result["runs"])
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if a.out:
            with open(a.out, "w") as f:
                json.dump(result, f, indent=1)

    teacher = None
    students = [r for r in a.rows if r in ("soft", "hard", "hard_token")]
    if a.teacher_checkpoint:
        teacher = load_teacher(a.teacher_checkpoint, a.conv_width)
        top1, _ = evaluate(teacher, *data[1], False)
        log(f"teacher {a.teacher_checkpoint}: val top-1 {top1['cls']:.4f}")
        result["teacher_checkpoint_top1"] = top1["cls"]
    elif "teacher" in a.rows or students:
        log(f"== teacher seed {a.teacher_seed}")
        rec, teacher = train("teacher", a.teacher_seed, data, a.epochs, width=a.conv_width,
                             log=log)
        result["runs"].append(rec)
        log(f"teacher: final {rec['final_top1']:.4f} · best {rec['best_top1']:.4f} "
            f"(teaches the students) · {rec['wall_s']:.0f}s")
        if a.save_teacher:
            torch.save(teacher.state_dict(), a.save_teacher)
        save()
    # Seed-major order: every row of the first seed before the next seed, so that a table
    # cut short still has all its rows.
    for seed in a.seeds:
        for row in a.rows:
            if row == "teacher":
                continue
            log(f"== {row} seed {seed}")
            alpha, tau = ROW_DISTILL.get(row, (0.5, 1.0))
            alpha = alpha if a.alpha is None else a.alpha
            tau = tau if a.tau is None else a.tau
            rec, _ = train(row, seed, data, a.epochs, teacher=teacher, alpha=alpha, tau=tau,
                           log=log)
            rec["alpha"], rec["tau"] = alpha, tau
            result["runs"].append(rec)
            log(f"{row} seed {seed}: final {rec['final_top1']:.4f} · "
                f"best {rec['best_top1']:.4f} · {rec['wall_s']:.0f}s")
            save()
    save()
    print_table(result["summary"])
    if a.out:
        print(f"\nresults: {a.out}")


if __name__ == "__main__":
    main()
