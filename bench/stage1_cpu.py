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


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(d))
        self.v_bias = nn.Parameter(torch.zeros(d))
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        b, n, d = x.shape
        h = self.norm1(x)
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(h, self.qkv.weight, bias).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (d // self.heads) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Student(nn.Module):
    def __init__(self, img, patch, frames, dim, depth, heads, clip_dim, k):
        super().__init__()
        self.k = k
        self.patch = nn.Conv3d(3, dim, (1, patch, patch), (1, patch, patch))
        n = frames * (img // patch) ** 2
        self.register_buffer("pe", sinusoid(n, dim)[None])
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.heads = nn.ModuleList([nn.Sequential(nn.Linear(dim, clip_dim), nn.LayerNorm(clip_dim, eps=1e-6)) for _ in range(k)])

    def forward(self, video, mask):
        x = self.patch(video).flatten(2).transpose(1, 2) + self.pe
        b, _, d = x.shape
        x = x[~mask].reshape(b, -1, d)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i >= len(self.blocks) - self.k:
                outs.append(x)
        pe = self.pe.expand(b, -1, -1)[~mask].reshape(b, -1, d)
        res = []
        for h, o in zip(self.heads, outs):
            y = h(self.norm(o) + pe)
            res.append(y / y.norm(dim=-1, keepdim=True))
        return torch.stack(res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
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
