#!/usr/bin/env python3
"""PyTorch GPU baseline: one UMT-B/16 stage-1 training step, 64 clips x 8 frames, 80 % masking.

The student written here with plain torch ops, following UMT.md section 1: Conv3d tubelet-1
patch embed (bias) over all 1568 tokens + the fixed 1-D sinusoid table, keep the 320 visible
tokens per clip, 12 pre-norm blocks (LayerNorm eps 1e-6, fused qkv without bias plus q/v
biases, scaled_dot_product_attention, exact GELU, drop path linspace(0, 0.1)), the last 6 block
outputs through the shared final norm + the clip table rows at visible positions + 6
Linear(768->512) -> LayerNorm -> L2 heads, loss mean(2 - 2 cos) over 6 x 64 x 320 tokens,
backward, AdamW (0.9, 0.95), eps 1e-8, wd 0.05 on >= 2-D non-bias tensors, fused when available).

Two ways to get the teacher targets [6, 64, 320, 512]:
  --teacher precomputed  read from shards: fp16 targets and visible indices arrive in pinned
                         host memory and are copied to the GPU each step (umt's setting).
  --teacher online       as the official code trains: the CLIP ViT-B/16 teacher (teacher.py)
                         runs on the 512 frames under no_grad, its CLS attention drives the
                         per-frame multinomial mask (40 of 196 visible), targets are gathered.

Precision: --dtype fp16 is the official recipe (autocast + GradScaler); bf16 autocast (no
scaler) is the fair comparison with umt's bf16 GEMMs. --compile wraps the student (and the
teacher) in torch.compile.

    python3 bench/gpu/stage1.py --teacher precomputed --dtype bf16
    python3 bench/gpu/stage1.py --teacher precomputed --dtype bf16 --compile
    python3 bench/gpu/stage1.py --teacher online --dtype fp16

MFU = model FLOPs per step / step time / dense peak (--peak-tflops, 989 for H100 SXM bf16).
Model FLOPs per step = 3 x student forward FLOPs (student_flops: forward + 2x for backward)
+, with the teacher online, the teacher's forward FLOPs (teacher_flops x 512 frames).
"""
import argparse
import contextlib
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from teacher import Teacher, sdpa, teacher_flops

DIM, DEPTH, HEADS, CLIP, K, FRAMES, GRID = 768, 12, 12, 512, 6, 8, 14


def student_flops(batch, visible, tokens=FRAMES * GRID * GRID, dim=DIM, depth=DEPTH, clip=CLIP, k=K):
    """Forward FLOPs of the student over one batch (multiply-add = 2)."""
    per_token = 2 * dim * (3 * dim + dim + 4 * dim + 4 * dim)
    attn = 4 * visible * dim  # per token: QK^T and PV against `visible` keys
    blocks = batch * visible * depth * (per_token + attn)
    patch = batch * tokens * 2 * 3 * 16 * 16 * dim
    heads = batch * visible * k * 2 * dim * clip
    return blocks + patch + heads


def sinusoid(n, d):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(d, dtype=torch.float64)[None, :]
    ang = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / d)
    return torch.where(j.long() % 2 == 0, torch.sin(ang), torch.cos(ang)).float()


def drop_path(x, p, training):
    if p == 0 or not training:
        return x
    keep = torch.empty(x.shape[0], 1, 1, device=x.device, dtype=x.dtype).bernoulli_(1 - p)
    return x * keep / (1 - p)


class Block(nn.Module):
    def __init__(self, dp):
        super().__init__()
        self.dp = dp
        self.norm1 = nn.LayerNorm(DIM, eps=1e-6)
        self.qkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(DIM))
        self.v_bias = nn.Parameter(torch.zeros(DIM))
        self.proj = nn.Linear(DIM, DIM)
        self.norm2 = nn.LayerNorm(DIM, eps=1e-6)
        self.fc1 = nn.Linear(DIM, 4 * DIM)
        self.fc2 = nn.Linear(4 * DIM, DIM)

    def forward(self, x):
        b, n, _ = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(self.norm1(x), self.qkv.weight, bias).view(b, n, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        a = sdpa(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, n, DIM)
        x = x + drop_path(self.proj(a), self.dp, self.training)
        return x + drop_path(self.fc2(F.gelu(self.fc1(self.norm2(x)))), self.dp, self.training)


class Student(nn.Module):
    def __init__(self, drop=0.1):
        super().__init__()
        self.patch_embed = nn.Conv3d(3, DIM, (1, 16, 16), (1, 16, 16))
        self.register_buffer("pos", sinusoid(FRAMES * GRID * GRID, DIM), persistent=False)
        self.register_buffer("clip_pos", sinusoid(FRAMES * GRID * GRID, DIM), persistent=False)
        self.blocks = nn.ModuleList(Block(dp) for dp in torch.linspace(0, drop, DEPTH).tolist())
        self.norm = nn.LayerNorm(DIM, eps=1e-6)
        self.heads = nn.ModuleList(nn.Linear(DIM, CLIP) for _ in range(K))
        self.head_norms = nn.ModuleList(nn.LayerNorm(CLIP, eps=1e-6) for _ in range(K))

    def forward(self, video, vis):  # video [B,3,T,H,W], vis [B, N_vis] ascending token indices
        x = self.patch_embed(video).flatten(2).transpose(1, 2) + self.pos
        b, _, d = x.shape
        x = torch.gather(x, 1, vis[..., None].expand(-1, -1, d))
        cpos = self.clip_pos[vis]
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i >= DEPTH - K:
                outs.append(x)
        ys = []
        for k, h in enumerate(outs):
            y = self.head_norms[k](self.heads[k](self.norm(h) + cpos))
            ys.append(F.normalize(y.float(), dim=-1))
        return torch.stack(ys)  # [K, B, N_vis, CLIP]


def param_groups(model):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 or n.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", choices=["precomputed", "online"], default="precomputed")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--mask-ratio", type=float, default=0.8)
    ap.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda", help="cuda (the benchmark) or cpu (a smoke test)")
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    args = ap.parse_args()

    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    per_frame = GRID * GRID
    vis_per_frame = per_frame - int(per_frame * args.mask_ratio)  # 196 - 156 = 40
    n_vis = FRAMES * vis_per_frame
    B = args.clips

    student = Student().to(dev).train()
    fused = {"fused": True} if dev.type == "cuda" and "fused" in torch.optim.AdamW.__init__.__code__.co_varnames else {}
    opt = torch.optim.AdamW(param_groups(student), lr=1.2e-3, betas=(0.9, 0.95), eps=1e-8, **fused)
    scaler = torch.cuda.amp.GradScaler(enabled=args.dtype == "fp16" and dev.type == "cuda")
    teacher = Teacher().to(dev).eval() if args.teacher == "online" else None
    fwd = student
    if args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit(f"torch {torch.__version__} has no torch.compile; use PyTorch >= 2.0")
        fwd = torch.compile(student, mode=args.compile_mode)
        if teacher is not None:
            teacher = torch.compile(teacher, mode=args.compile_mode)

    video = torch.randn(B, 3, FRAMES, 224, 224, device=dev)
    pin = dev.type == "cuda"
    # What a shard read delivers for the precomputed path: fp16 targets and visible indices.
    host_t = F.normalize(torch.randn(K, B, n_vis, CLIP), dim=-1).half()
    host_vis = torch.stack([torch.randperm(FRAMES * per_frame)[:n_vis].sort().values for _ in range(B)])
    if pin:
        host_t, host_vis = host_t.pin_memory(), host_vis.pin_memory()

    def amp():
        return torch.autocast(dev.type, dtype=dtype) if args.dtype != "fp32" else contextlib.nullcontext()

    def targets():
        if teacher is None:
            return host_t.to(dev, non_blocking=True).float(), host_vis.to(dev, non_blocking=True)
        with torch.no_grad(), amp():
            frames = video.transpose(1, 2).reshape(B * FRAMES, 3, 224, 224)
            tgt, attn = teacher(frames)  # [K, B*T, 196, C], [B*T, 196]
            order = torch.multinomial(attn.float(), vis_per_frame)  # sampled without replacement
            vis = (order.view(B, FRAMES, vis_per_frame) + per_frame * torch.arange(FRAMES, device=dev)[:, None])
            vis = vis.view(B, n_vis).sort(-1).values
            tgt = tgt.reshape(K, B, FRAMES * per_frame, CLIP)
            return torch.gather(tgt, 2, vis[None, :, :, None].expand(K, -1, -1, CLIP)), vis

    def step():
        t, vis = targets()
        with amp():
            s = fwd(video, vis)
        loss = (2 - 2 * (s * t).sum(-1)).mean()
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    sflops = 3 * student_flops(B, n_vis)
    tflops = teacher_flops() * B * FRAMES if teacher is not None else 0
    print(json.dumps({
        "bench": "stage1-step", "teacher": args.teacher, "impl": "pytorch" + ("+compile" if args.compile else ""),
        "dtype": args.dtype, "clips": B, "visible_tokens": n_vis, "median_s": med, "min_s": min(times),
        "loss": float(loss), "student_tflop_per_step": sflops / 1e12, "teacher_tflop_per_step": tflops / 1e12,
        "mfu": (sflops + tflops) / med / (args.peak_tflops * 1e12),
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
