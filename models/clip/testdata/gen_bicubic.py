"""Writes bicubic_golden.safetensors: PyTorch's F.interpolate(bicubic, align_corners=False)
on seeded random planes, the golden for models/clip's resizeBicubic.

Run with Debian's python3-torch: /usr/bin/python3 gen_bicubic.py (from this directory)."""
import json
import struct

import torch
import torch.nn.functional as F

CASES = [  # (channels, h, w, out_h, out_w)
    (3, 16, 16, 14, 14),  # ViT-L/14 positional grid 16 -> 14
    (2, 8, 8, 5, 5),
    (2, 5, 5, 9, 9),  # upsampling
    (3, 6, 10, 4, 7),  # non-square, different scale per axis
    (1, 64, 64, 56, 56),
    (1, 1, 3, 2, 5),  # degenerate: one row
]

g = torch.Generator().manual_seed(20231)
tensors = {}
for i, (c, h, w, oh, ow) in enumerate(CASES):
    x = torch.randn(1, c, h, w, generator=g)
    y = F.interpolate(x, size=(oh, ow), mode="bicubic", align_corners=False)
    tensors[f"case{i}.in"] = x[0].contiguous()
    tensors[f"case{i}.out"] = y[0].contiguous()

header, blobs, off = {}, [], 0
for name, t in tensors.items():
    b = t.numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
header["__metadata__"] = {"torch": torch.__version__, "generator": "gen_bicubic.py"}
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("bicubic_golden.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
