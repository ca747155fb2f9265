#!/usr/bin/env python3
"""PyTorch CPU reference for umt's CLIP teacher (models/clip): the same network written with
plain torch ops, used to

  * benchmark ViT-B/16 teacher images/s on CPU at a fixed thread count (compare with
    `go test -bench TeacherViTB16 ./models/clip`), and torch's sgemm GFLOP/s on 1024²:
        /usr/bin/python3 bench/teacher_cpu.py bench --threads 2
  * write a golden file for models/clip's resize path (positional table and input resized
    bicubically, F.interpolate align_corners=False), from OpenAI-named weights:
        /usr/bin/python3 bench/teacher_cpu.py golden --weights W.safetensors --heads 4 \
            --resolution 48 --return-layers 2 --out models/clip/testdata/resize_golden.safetensors

Needs Debian's python3-torch; give it a real BLAS (libopenblas0-pthread, see
scripts/setup.d/blas.sh) or its GEMM runs at a few GFLOP/s.
"""
import argparse
import json
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DTYPES = {"F32": np.float32, "F16": np.float16, "U8": np.uint8, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        arr = np.frombuffer(body[lo:hi], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.dtype("float32"): "F32", np.dtype("uint8"): "U8", np.dtype("int64"): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Teacher(torch.nn.Module):
    """CLIP ViT image tower as UMT runs it: conv patches, CLS + positional embedding, ln_pre,
    pre-LN QuickGELU blocks; ln_post -> proj (-> L2) on the patch tokens of the returned blocks;
    last block's CLS->patch attention averaged over heads."""

    def __init__(self, sd, heads, resolution, return_layers, interval=1, l2=True):
        super().__init__()
        self.sd = {k.removeprefix("visual."): v.float() for k, v in sd.items()}
        self.heads, self.resolution, self.l2 = heads, resolution, l2
        width, _, patch, _ = self.sd["conv1.weight"].shape
        self.width, self.patch = width, patch
        self.layers = 0
        while f"transformer.resblocks.{self.layers}.ln_1.weight" in self.sd:
            self.layers += 1
        self.ret = sorted(self.layers - 1 - i * interval for i in range(return_layers))
        grid = resolution // patch
        pos = self.sd["positional_embedding"]
        g0 = int(round((pos.shape[0] - 1) ** 0.5))
        if g0 != grid:  # UMT's loader: CLS row kept, grid resized bicubically
            p = pos[1:].reshape(1, g0, g0, width).permute(0, 3, 1, 2)
            p = F.interpolate(p, size=(grid, grid), mode="bicubic", align_corners=False)
            pos = torch.cat([pos[:1], p.permute(0, 2, 3, 1).reshape(grid * grid, width)])
        self.pos = pos

    def block(self, x, i, want_attn):
        p = lambda n: self.sd[f"transformer.resblocks.{i}.{n}"]
        N, L, D = x.shape
        H = self.heads
        h = F.layer_norm(x, (D,), p("ln_1.weight"), p("ln_1.bias"), 1e-5)
        qkv = F.linear(h, p("attn.in_proj_weight"), p("attn.in_proj_bias"))
        q, k, v = qkv.reshape(N, L, 3, H, D // H).permute(2, 0, 3, 1, 4)
        a = torch.softmax((q @ k.transpose(-1, -2)) * (D // H) ** -0.5, dim=-1)
        o = (a @ v).transpose(1, 2).reshape(N, L, D)
        x = x + F.linear(o, p("attn.out_proj.weight"), p("attn.out_proj.bias"))
        h = F.layer_norm(x, (D,), p("ln_2.weight"), p("ln_2.bias"), 1e-5)
        h = F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"))
        h = h * torch.sigmoid(1.702 * h)
        x = x + F.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))
        return x, (a.mean(dim=1)[:, 0, 1:] if want_attn else None)

    def forward(self, frames_u8):
        """frames_u8: [B, T, H, W, 3] uint8 -> features [K, B, T*HW, O], attn [B*T, HW]."""
        B, T, H, W, _ = frames_u8.shape
        x = frames_u8.reshape(B * T, H, W, 3).permute(0, 3, 1, 2).float().div(255.0)
        x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        if H != self.resolution or W != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bicubic", align_corners=False)
        x = F.conv2d(x, self.sd["conv1.weight"], stride=self.patch)  # [N, D, G, G]
        N, D = x.shape[:2]
        x = x.flatten(2).transpose(1, 2)  # [N, HW, D]
        cls = self.sd["class_embedding"].expand(N, 1, D)
        x = torch.cat([cls, x], dim=1) + self.pos
        x = F.layer_norm(x, (D,), self.sd["ln_pre.weight"], self.sd["ln_pre.bias"], 1e-5)
        feats, attn = [], None
        for i in range(self.layers):
            x, a = self.block(x, i, i == self.layers - 1)
            if a is not None:
                attn = a
            if i in self.ret:
                t = F.layer_norm(x[:, 1:], (D,), self.sd["ln_post.weight"], self.sd["ln_post.bias"], 1e-5)
                f = t @ self.sd["proj"]
                if self.l2:
                    f = f / f.norm(dim=-1, keepdim=True)
                feats.append(f.reshape(B, -1, f.shape[-1]))
        return torch.stack(feats), attn


def random_vitb16(seed=1):
    g = torch.Generator().manual_seed(seed)
    D, L, P, O, G = 768, 12, 16, 512, 14
    r = lambda *s, scale=1.0: torch.randn(*s, generator=g) * scale
    sd = {
        "class_embedding": r(D, scale=D**-0.5),
        "positional_embedding": r(G * G + 1, D, scale=D**-0.5),
        "conv1.weight": r(D, 3, P, P, scale=(3 * P * P) ** -0.5),
        "ln_pre.weight": 1 + r(D, scale=0.1), "ln_pre.bias": r(D, scale=0.1),
        "ln_post.weight": 1 + r(D, scale=0.1), "ln_post.bias": r(D, scale=0.1),
        "proj": r(D, O, scale=D**-0.5),
    }
    for i in range(L):
        p = f"transformer.resblocks.{i}."
        sd.update({
            p + "ln_1.weight": 1 + r(D, scale=0.1), p + "ln_1.bias": r(D, scale=0.1),
            p + "attn.in_proj_weight": r(3 * D, D, scale=D**-0.5), p + "attn.in_proj_bias": r(3 * D, scale=0.1),
            p + "attn.out_proj.weight": r(D, D, scale=D**-0.5), p + "attn.out_proj.bias": r(D, scale=0.1),
            p + "ln_2.weight": 1 + r(D, scale=0.1), p + "ln_2.bias": r(D, scale=0.1),
            p + "mlp.c_fc.weight": r(4 * D, D, scale=D**-0.5), p + "mlp.c_fc.bias": r(4 * D, scale=0.1),
            p + "mlp.c_proj.weight": r(D, 4 * D, scale=(4 * D) ** -0.5), p + "mlp.c_proj.bias": r(D, scale=0.1),
        })
    return sd


def bench(args):
    torch.set_num_threads(args.threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(args.gemm_reps):
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        best = min(best, (time.perf_counter() - t) / 10)
    print(f"sgemm 1024^3: {2 * 1024**3 / best / 1e9:.1f} GFLOP/s (min of {args.gemm_reps}x10, {args.threads} threads)")
    model = Teacher(random_vitb16(), heads=12, resolution=224, return_layers=6)
    frames = torch.randint(0, 256, (1, args.frames, 224, 224, 3), dtype=torch.uint8)
    with torch.inference_mode():
        model(frames)  # warm-up
        best = float("inf")
        for _ in range(args.reps):
            t = time.perf_counter()
            model(frames)
            best = min(best, time.perf_counter() - t)
    print(f"ViT-B/16 teacher: {args.frames / best:.3f} images/s (batch {args.frames}, best of {args.reps}, {args.threads} threads, torch {torch.__version__})")


def golden(args):
    sd = read_safetensors(args.weights)
    io = read_safetensors(args.frames)
    frames = io["raw_frames_u8"]
    model = Teacher(sd, heads=args.heads, resolution=args.resolution, return_layers=args.return_layers)
    with torch.no_grad():
        feats, attn = model(frames)
    write_safetensors(args.out, {"features": feats, "attn_cls": attn},
                      {"generator": "bench/teacher_cpu.py golden", "resolution": str(args.resolution),
                       "heads": str(args.heads), "return_layers": str(args.return_layers), "torch": torch.__version__})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--frames", type=int, default=8)
    b.add_argument("--reps", type=int, default=3)
    b.add_argument("--gemm-reps", type=int, default=5)
    g = sub.add_parser("golden")
    g.add_argument("--weights", required=True)
    g.add_argument("--frames", required=True, help="safetensors with raw_frames_u8 [B,T,H,W,3]")
    g.add_argument("--heads", type=int, required=True)
    g.add_argument("--resolution", type=int, required=True)
    g.add_argument("--return-layers", type=int, required=True)
    g.add_argument("--out", required=True)
    a = ap.parse_args()
    bench(a) if a.cmd == "bench" else golden(a)


if __name__ == "__main__":
    main()
