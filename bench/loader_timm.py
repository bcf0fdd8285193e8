"""timm 0.3.2's DeiT train transform on one core, for `bench/loader.sh`.

    python bench/loader_timm.py DIR [ROUNDS]

Decodes DIR/train/*/*.jpg with PIL (`Image.open(f).convert("RGB")`, as torchvision's
ImageFolder does) and times it, then times `create_transform(224, is_training=True,
auto_augment="rand-m9-mstd0.5-inc1", interpolation="bicubic", re_prob=0.25,
re_mode="pixel", re_count=1)` — RandomResizedCrop, flip, RandAugment, ToTensor, Normalize,
RandomErasing, exactly the official DeiT train transform — over the decoded images, plus
the batch collation (`torch.stack`, batches of 64). One process, one torch thread: images
per second per core. Needs torch, timm 0.3.2 and Pillow (Posterize with 0 bits, which
RandAugment reaches at magnitude 10, is patched to the black image older Pillow gave).
"""
import glob
import os
import random
import sys
import time

import torch
from PIL import Image

torch.set_num_threads(1)
from PIL import ImageOps  # noqa: E402
from timm.data import create_transform  # noqa: E402

_posterize = ImageOps.posterize


def posterize(img, bits):
    # Pillow >= 10 refuses 0 bits; the Pillow timm 0.3.2 ran on returned a black image.
    return Image.new(img.mode, img.size) if bits == 0 else _posterize(img, bits)


ImageOps.posterize = posterize


def main():
    root = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    files = sorted(glob.glob(os.path.join(root, "train", "*", "*.jpg")))
    random.seed(0)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    images = [Image.open(f).convert("RGB") for f in files]
    decode = time.perf_counter() - t0
    t = create_transform(224, is_training=True, auto_augment="rand-m9-mstd0.5-inc1",
                         interpolation="bicubic", re_prob=0.25, re_mode="pixel", re_count=1)
    for img in images[:16]:  # warm-up
        t(img)
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        batch = []
        for img in images:
            batch.append(t(img))
            if len(batch) == 64:
                torch.stack(batch)
                batch = []
        rates.append(len(images) / (time.perf_counter() - t0))
    rates.sort()
    print(f"timm decode     {len(files) / decode:.0f} img/s per core ({len(files)} JPEGs)")
    print(f"timm transform  {rates[len(rates) // 2]:.0f} img/s per core "
          f"(median of {rounds} passes over {len(images)} images)")


if __name__ == "__main__":
    main()
