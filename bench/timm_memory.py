#!/usr/bin/env python3
"""timm_memory.py - the memory a timm training step holds, counted on the CPU.

    python3 bench/timm_memory.py MODEL [--batch 1,2] [--precision fp32|bf16] [--image 224]

Runs one AdamW training step of a timm model (after one untracked step, so the optimizer's
moments exist, as in a long run) under torch's `MemTracker`, which records every tensor
storage the step creates and frees, and prints the peak of the bytes alive at once, by
kind (parameters, gradients, optimizer state, activations, temporaries). bf16 is
`torch.autocast` with bf16, timm's AMP; its CPU rules match CUDA's for the ops a ViT runs
(products and attention in bf16, LayerNorm and softmax in fp32), and the CPU's
`scaled_dot_product_attention` keeps what CUDA's fused attention keeps (q, k, v, the output
and the row log-sum-exps). This is `torch.cuda.max_memory_allocated` without the caching
allocator's block rounding or cuBLAS's workspace, the figure `deitc`'s simulated device
(`crates/kernels/simcuda/profile.py`) is compared with in docs/performance.md. With two or
more batch sizes it also prints the fit `fixed + per_sample × B` and its value at --at.

Needs torch and timm (a venv; CI never runs this).
"""

import argparse

import timm
import torch
from torch.distributed._tools.mem_tracker import MemTracker


def step(model, opt, x, y, precision):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def peak(name, batch, precision, image):
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=1000, img_size=image)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, image, image)
    y = torch.randint(0, 1000, (batch,))
    step(model, opt, x, y, precision)  # the moments now exist
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        step(model, opt, x, y, precision)
    (kinds,) = tracker.get_tracker_snapshot("peak").values()
    return {str(k).split(".")[-1].lower(): v for k, v in kinds.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--batch", default="1,2")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--at", type=int, default=128, help="the batch the fit is evaluated at")
    a = p.parse_args()
    mib = 2**20
    totals = []
    for b in [int(s) for s in a.batch.split(",")]:
        kinds = peak(a.model, b, a.precision, a.image)
        totals.append((b, kinds["total"]))
        parts = ", ".join(f"{k} {v / mib:.1f}" for k, v in kinds.items() if k != "total" and v)
        print(f"{a.model} {a.precision} batch {b}: peak {kinds['total'] / mib:.1f} MiB ({parts})")
    if len(totals) >= 2:
        (b0, m0), (b1, m1) = totals[0], totals[-1]
        per = (m1 - m0) / (b1 - b0)
        fixed = m0 - per * b0
        print(f"{a.model} {a.precision}: fixed {fixed / mib:.1f} MiB + {per / mib:.2f} MiB per sample "
              f"= {(fixed + per * a.at) / 2**30:.2f} GiB at batch {a.at}")


if __name__ == "__main__":
    main()
