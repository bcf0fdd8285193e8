#!/usr/bin/env python3
"""Convert digits.npz into a torchvision ImageFolder layout of 8x8 grayscale PNGs.

Standard library only (numpy is not needed): the .npy members are read with
zipfile + struct + ast, and the PNGs are written with zlib. The output is
byte-for-byte deterministic (no timestamps or other ancillary chunks).

Usage (from the repository root):

    python3 data/digits/convert.py ../shared/data/digits.npz data/digits

writes data/digits/train/<digit>/<index>.png and data/digits/val/<digit>/<index>.png,
where <index> is the row of the image in the npz, zero-padded to 4 digits, and
prints the per-class counts and the training split's pixel mean and std.
"""

import ast
import math
import struct
import sys
import zipfile
import zlib
from pathlib import Path

DTYPES = {"|u1": ("B", 1), "<i8": ("q", 8)}


def read_npy(data: bytes):
    """Returns (shape, flat list of values) of a version 1/2 .npy file."""
    if data[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy file")
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", data[8:10])
        start = 10
    else:
        (hlen,) = struct.unpack("<I", data[8:12])
        start = 12
    header = ast.literal_eval(data[start : start + hlen].decode("latin1"))
    if header["fortran_order"]:
        raise ValueError("fortran order is not supported")
    code, size = DTYPES[header["descr"]]
    shape = tuple(header["shape"])
    count = math.prod(shape)
    body = data[start + hlen : start + hlen + count * size]
    return shape, list(struct.unpack("<%d%s" % (count, code), body))


def png_gray8(width: int, height: int, pixels) -> bytes:
    """An 8-bit grayscale PNG (colour type 0), filter 0 on every row."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    raw = b"".join(
        b"\x00" + bytes(pixels[r * width : (r + 1) * width]) for r in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    npz, out = Path(argv[1]), Path(argv[2])
    with zipfile.ZipFile(npz) as z:
        arrays = {n[:-4]: read_npy(z.read(n)) for n in z.namelist()}
    (n, h, w), images = arrays["images"]
    _, labels = arrays["labels"]
    _, train_idx = arrays["train_idx"]
    _, test_idx = arrays["test_idx"]
    assert len(labels) == n and len(set(train_idx) | set(test_idx)) == n
    assert not set(train_idx) & set(test_idx)
    classes = sorted(set(labels))
    for split, idx in (("train", train_idx), ("val", test_idx)):
        counts = {c: 0 for c in classes}
        for i in idx:
            label = labels[i]
            counts[label] += 1
            folder = out / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            pixels = images[i * h * w : (i + 1) * h * w]
            (folder / ("%04d.png" % i)).write_bytes(png_gray8(w, h, pixels))
        print(
            "%s: %d images, per class %s"
            % (split, len(idx), [counts[c] for c in classes])
        )
    px = [v / 255.0 for i in train_idx for v in images[i * h * w : (i + 1) * h * w]]
    mean = sum(px) / len(px)
    std = math.sqrt(sum((v - mean) ** 2 for v in px) / len(px))
    print("train pixel mean %.4f std %.4f" % (mean, std))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
