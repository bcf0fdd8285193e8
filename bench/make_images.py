"""Writes a small ImageFolder of JPEGs shaped like ImageNet's for the loader benchmark.

    python bench/make_images.py DIR [N]

DIR/train/c0..c3/*.jpg and DIR/val/c0..c3/*.jpg, N training images in all (default 256),
sizes 500×375, 375×500, 500×333 and 640×480 in turn (ImageNet's median is about 500×375),
quality 90. The content is smooth colour gradients with ellipses and mild noise, so JPEG
decoding and the ops see natural-looking statistics. Needs Pillow and numpy.
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

SIZES = [(500, 375), (375, 500), (500, 333), (640, 480)]


def image(rng, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([
        128 + 100 * np.sin(x / rng.uniform(20, 90) + rng.uniform(0, 6)),
        128 + 100 * np.cos(y / rng.uniform(20, 90) + rng.uniform(0, 6)),
        128 + 100 * np.sin((x + y) / rng.uniform(30, 120)),
    ], axis=-1)
    base += rng.normal(0, 6, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(10, w // 2), y0 + rng.integers(10, h // 2)
        draw.ellipse([x0, y0, x1, y1], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def main():
    root = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("val", max(4, n // 8))):
        for i in range(count):
            w, h = SIZES[i % len(SIZES)]
            d = os.path.join(root, split, f"c{i % 4}")
            os.makedirs(d, exist_ok=True)
            image(rng, w, h).save(os.path.join(d, f"{i:05d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
