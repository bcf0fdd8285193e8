#!/usr/bin/env python3
"""PyTorch + timm reference for `deitc bench`: the same model shape, batch and step.

Times one AdamW training step (forward, soft-target cross-entropy, backward, update) and
one eval forward on random inputs, reporting the median over --steps after 2 warm-up steps,
like `deitc bench`. Run it on the same machine as `deitc bench` for side-by-side numbers:

    pip install torch timm
    python bench/torch_reference.py --image 224 --patch 16 --embed 192 --depth 12 --heads 3 \
        --classes 1000 --batch 8 --threads 2          # DeiT-Ti 224/16, batch 8
    python bench/torch_reference.py --image 32 --patch 4 --embed 192 --depth 12 --heads 3 \
        --classes 10 --batch 64 --threads 2           # DeiT-Ti 32/4, batch 64
    python bench/torch_reference.py --image 8 --patch 2 --channels 1 --embed 64 --depth 4 \
        --heads 2 --classes 10 --batch 32 --threads 2 # the bundled digits_vit

deitc never needs PyTorch; this script is for people who have it.
"""
import argparse
import resource
import statistics
import time

import torch
import timm  # noqa: F401  (VisionTransformer lives in timm.models)
from timm.models.vision_transformer import VisionTransformer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--embed", type=int, default=192)
    p.add_argument("--depth", type=int, default=12)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--amp", default="none", choices=["none", "bf16"],
                   help="autocast dtype for forward and loss (GPU); weights stay fp32")
    p.add_argument("--tf32", action="store_true",
                   help="matmuls (and convolutions) on TF32 tensor cores (GPU)")
    a = p.parse_args()
    if a.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = VisionTransformer(
        img_size=a.image, patch_size=a.patch, in_chans=a.channels, num_classes=a.classes,
        embed_dim=a.embed, depth=a.depth, num_heads=a.heads, mlp_ratio=4.0, qkv_bias=True,
        drop_path_rate=0.1,
    )
    dev = torch.device(a.device)
    model = model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    x = (torch.rand(a.batch, a.channels, a.image, a.image) * 2 - 1).to(dev)
    y = torch.nn.functional.one_hot(torch.arange(a.batch) % a.classes, a.classes).float().to(dev)
    amp = a.amp == "bf16"

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step():
        model.train()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = torch.sum(-y * torch.log_softmax(model(x).float(), dim=-1), dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()

    def evaluate():
        model.eval()
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            model(x)
        sync()

    for name, fn in [("train step", step), ("eval", evaluate)]:
        times = []
        for i in range(a.steps + 2):
            t0 = time.perf_counter()
            fn()
            if i >= 2:
                times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        print(f"{name:11} {t * 1e3:.1f} ms median of {a.steps} · {a.batch / t:.1f} img/s")
    params = sum(p.numel() for p in model.parameters())
    where = torch.cuda.get_device_name() if dev.type == "cuda" else f"{torch.get_num_threads()} threads"
    if dev.type == "cuda":
        # Allocated is what tensors held; reserved is what the caching allocator kept from
        # the driver (closer to the whole-card figure nvidia-smi shows for deitc).
        where += (f" · peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB allocated,"
                  f" {torch.cuda.max_memory_reserved() / 2**20:.0f} MiB reserved")
    else:
        # ru_maxrss is in KiB on Linux: the process's peak resident memory, as deitc reports.
        where += f" · peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    print(f"params {params:,} · torch {torch.__version__} · {a.device} {a.amp} · {where}")


if __name__ == "__main__":
    main()
