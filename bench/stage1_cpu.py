#!/usr/bin/python3
"""PyTorch CPU baseline for one UMT stage-1 training step, to compare with umt's Go step.

The same computation as training/stage1 + models/vit, written independently with plain torch
modules: Conv3d tubelet-1 patch embed over all tokens + fixed 1-D sinusoid table, keep the
visible tokens, pre-norm blocks (LayerNorm eps 1e-6, exact GELU, fused qkv without bias plus
q/v biases), the last K outputs through the shared norm + table rows at visible positions +
per-layer Linear -> LayerNorm -> L2 heads, loss mean(2 - 2 cos), backward, AdamW
(0.9, 0.95, wd 0.05 on >=2-D non-bias tensors). float32, no AMP, drop path 0 (as the Go
benchmark). Run with Debian's python3-torch:

    /usr/bin/python3 bench/stage1_cpu.py --preset b16 --batch 2 --steps 3 --threads 2

Prints one JSON line with the minimum and median step time in seconds.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # img, patch, frames, dim, depth, heads, clip_dim, K
    "tiny": dict(img=64, patch=16, frames=4, dim=48, depth=3, heads=4, clip_dim=32, k=2),
    "b16": dict(img=224, patch=16, frames=8, dim=768, depth=12, heads=12, clip_dim=512, k=6),
    "l16": dict(img=224, patch=16, frames=8, dim=1024, depth=24, heads=16, clip_dim=768, k=6),
}


def sinusoid(n, d):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(d, dtype=torch.float64)[None, :]
    ang = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / d)
    out = torch.where(j.long() % 2 == 0, torch.sin(ang), torch.cos(ang))
    return out.float()


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(d))
        self.v_bias = nn.Parameter(torch.zeros(d))
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (d // self.heads) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = Attention(d, heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = Mlp(d, mlp_ratio * d)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim, patch):
        super().__init__()
        self.proj = nn.Conv3d(3, dim, (1, patch, patch), (1, patch, patch))


class Encoder(nn.Module):
    def __init__(self, dim, depth, heads, mlp_ratio, patch):
        super().__init__()
        self.patch_embed = PatchEmbed(dim, patch)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)


class Decoder(nn.Module):
    def __init__(self, dim, clip_dim):
        super().__init__()
        self.head = nn.Linear(dim, clip_dim)
        self.norm = nn.LayerNorm(clip_dim, eps=1e-6)


class Student(nn.Module):
    """Parameter names follow the official state dict (encoder.*, clip_decoder.*), so umt's
    exported model.safetensors loads with strict=True."""

    def __init__(self, img, patch, frames, dim, depth, heads, clip_dim, k, mlp_ratio=4):
        super().__init__()
        self.k = k
        self.encoder = Encoder(dim, depth, heads, mlp_ratio, patch)
        n = frames * (img // patch) ** 2
        self.register_buffer("pe", sinusoid(n, dim)[None], persistent=False)
        self.clip_decoder = nn.ModuleList([Decoder(dim, clip_dim) for _ in range(k)])

    def forward(self, video, mask):
        enc = self.encoder
        x = enc.patch_embed.proj(video).flatten(2).transpose(1, 2) + self.pe
        b, _, d = x.shape
        x = x[~mask].reshape(b, -1, d)
        outs = []
        for i, blk in enumerate(enc.blocks):
            x = blk(x)
            if i >= len(enc.blocks) - self.k:
                outs.append(x)
        pe = self.pe.expand(b, -1, -1)[~mask].reshape(b, -1, d)
        res = []
        for dec, o in zip(self.clip_decoder, outs):
            y = dec.norm(dec.head(enc.norm(o) + pe))
            res.append(y / y.norm(dim=-1, keepdim=True))
        return torch.stack(res)


DTYPES = {"F32": ("<f4", torch.float32), "I64": ("<i8", torch.int64), "U8": ("u1", torch.uint8)}


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        npdt, _ = DTYPES[info["dtype"]]
        arr = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=npdt).reshape(info["shape"]).copy()
        out[name] = torch.from_numpy(arr)
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().float()
        b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def check(d, cfg):
    """Load umt's export d/model.safetensors strictly, run d/input.safetensors (video, mask,
    targets) through forward + loss + backward, write outputs, loss and grads."""
    m = Student(**cfg)
    m.load_state_dict(read_safetensors(os.path.join(d, "model.safetensors")), strict=True)
    inp = read_safetensors(os.path.join(d, "input.safetensors"))
    out = m(inp["video"], inp["mask"].bool())
    loss = (2 - 2 * (out * inp["targets"]).sum(-1)).mean()
    loss.backward()
    res = {"outputs": out, "loss": loss.reshape(1)}
    for n, q in m.named_parameters():
        res["grad." + n] = q.grad
    write_safetensors(os.path.join(d, "torch.safetensors"), res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", metavar="DIR", help="cross-check mode (used by models/vit tests): see check()")
    ap.add_argument("--config", help="JSON student config for --check: img, patch, frames, dim, depth, heads, clip_dim, k, mlp_ratio")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        check(a.check, json.loads(a.config))
        return
    torch.manual_seed(0)
    p = PRESETS[a.preset]
    m = Student(**p)
    decay = [q for n, q in m.named_parameters() if q.ndim > 1 and not n.endswith(".bias")]
    rest = [q for n, q in m.named_parameters() if not (q.ndim > 1 and not n.endswith(".bias"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    hw = (p["img"] // p["patch"]) ** 2
    nvis = hw - int(hw * 0.8)
    video = torch.randn(a.batch, 3, p["frames"], p["img"], p["img"])
    mask = torch.ones(a.batch, p["frames"], hw, dtype=torch.bool)
    for b in range(a.batch):
        for t in range(p["frames"]):
            mask[b, t, torch.randperm(hw)[:nvis]] = False
    mask = mask.reshape(a.batch, -1)
    target = F.normalize(torch.randn(p["k"], a.batch, p["frames"] * nvis, p["clip_dim"]), dim=-1)
    times = []
    for _ in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = m(video, mask)
        loss = (2 - 2 * (out * target).sum(-1)).mean()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = times[1:]  # the first step allocates optimizer state
    print(json.dumps({"preset": a.preset, "batch": a.batch, "threads": a.threads, "torch": torch.__version__,
                      "step_s_min": min(times), "step_s_median": statistics.median(times), "loss": float(loss)}))


if __name__ == "__main__":
    main()
