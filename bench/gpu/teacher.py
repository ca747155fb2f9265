#!/usr/bin/env python3
"""PyTorch GPU baseline: CLIP ViT-B/16 teacher frames/s, as UMT runs it in stage 1.

The OpenAI CLIP visual encoder written here with plain torch ops (random weights: only speed
is measured; --weights loads an extracted `visual.*` state dict if wanted): conv1 16x16 without
bias, CLS + positional embedding, ln_pre, 12 pre-norm blocks (fused in_proj with bias,
QuickGELU MLP), then what UMT's teacher returns: ln_post -> proj -> L2 normalise on the patch
tokens of the last 6 blocks, and the CLS->patch attention of the last block averaged over
heads. Attention goes through F.scaled_dot_product_attention; the CLS row's probabilities
(the head mean) are computed separately from q_cls and k, as SDPA does not return weights.

Variants (each one JSON line): --dtype bf16|fp16|fp32 (autocast; the official code uses fp16
autocast, bf16 is the fair comparison with umt's bf16 GEMMs), --compile (torch.compile,
mode max-autotune-no-cudagraphs unless --compile-mode says otherwise).

    python3 bench/gpu/teacher.py --frames 512 --dtype bf16
    python3 bench/gpu/teacher.py --frames 512 --dtype bf16 --compile

MFU: FLOPs per frame (teacher_flops below, ~36.1 GFLOP for B/16 at 224 px, multiply-add = 2)
times frames/s divided by the GPU's dense peak for the dtype (--peak-tflops; 989 for H100 SXM
bf16/fp16, 495 for tf32, 67 for fp32 without tensor cores).
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

WIDTH, LAYERS, HEADS, PATCH, RES, OUT, RETURN = 768, 12, 12, 16, 224, 512, 6


def sdpa(q, k, v):
    """F.scaled_dot_product_attention (PyTorch >= 2.0); plain math on older torch (CPU smoke tests)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    return ((q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5).softmax(-1) @ v


def teacher_flops(res=RES, patch=PATCH, width=WIDTH, layers=LAYERS, out=OUT, k=RETURN):
    """Forward FLOPs of one frame (multiply-add = 2): GEMMs, attention scores and mixing."""
    g = (res // patch) ** 2
    n = g + 1
    per_token = 2 * width * (3 * width + width + 4 * width + 4 * width)  # qkv, out, fc1, fc2
    attn = 4 * n * n * width  # QK^T and PV over all heads
    patch_embed = 2 * g * 3 * patch * patch * width
    heads_out = k * 2 * g * width * out  # proj of the returned layers
    return layers * (n * per_token + attn) + patch_embed + heads_out


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(WIDTH)
        self.in_proj = nn.Linear(WIDTH, 3 * WIDTH)
        self.out_proj = nn.Linear(WIDTH, WIDTH)
        self.ln_2 = nn.LayerNorm(WIDTH)
        self.c_fc = nn.Linear(WIDTH, 4 * WIDTH)
        self.c_proj = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x, want_cls_attn=False):
        b, n, _ = x.shape
        qkv = self.in_proj(self.ln_1(x)).view(b, n, 3, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [b, h, n, dh]
        a = sdpa(q, k, v)
        cls_attn = None
        if want_cls_attn:  # softmax(q_cls k^T / sqrt(dh)) averaged over heads: [b, n]
            s = (q[:, :, :1] @ k.transpose(-1, -2)).float() * (WIDTH // HEADS) ** -0.5
            cls_attn = s.softmax(-1).mean(1)[:, 0]
        x = x + self.out_proj(a.transpose(1, 2).reshape(b, n, WIDTH))
        h = self.c_fc(self.ln_2(x))
        x = x + self.c_proj(h * torch.sigmoid(1.702 * h))
        return x, cls_attn


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        g = (RES // PATCH) ** 2
        self.conv1 = nn.Conv2d(3, WIDTH, PATCH, PATCH, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(WIDTH) * 0.02)
        self.positional_embedding = nn.Parameter(torch.randn(g + 1, WIDTH) * 0.01)
        self.ln_pre = nn.LayerNorm(WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_post = nn.LayerNorm(WIDTH)
        self.proj = nn.Parameter(torch.randn(WIDTH, OUT) * WIDTH**-0.5)

    def forward(self, frames):  # [N, 3, 224, 224] -> targets [K, N, 196, 512], cls attn [N, 196]
        x = self.conv1(frames).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1), x], 1)
        x = self.ln_pre(x + self.positional_embedding.to(x.dtype))
        outs, attn = [], None
        for i, blk in enumerate(self.blocks):
            x, a = blk(x, want_cls_attn=(i == LAYERS - 1))
            if i >= LAYERS - RETURN:
                outs.append(x[:, 1:])
            if a is not None:
                attn = a[:, 1:]
        y = self.ln_post(torch.stack(outs)) @ self.proj.to(x.dtype)
        return F.normalize(y.float(), dim=-1), attn


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=512, help="frames per batch (64 clips x 8 frames = 512)")
    ap.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda", help="cuda (the benchmark) or cpu (a smoke test)")
    ap.add_argument("--weights", help="optional state dict of CLIP visual.* keys (speed does not depend on it)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense peak of the GPU for --dtype, for MFU")
    args = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = args.dtype == "fp32"
    torch.backends.cudnn.allow_tf32 = args.dtype == "fp32"
    dev = torch.device(args.device)
    model = Teacher().to(dev).eval()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location=dev), strict=False)
    if args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit(f"torch {torch.__version__} has no torch.compile; use PyTorch >= 2.0")
        model = torch.compile(model, mode=args.compile_mode)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    frames = torch.randn(args.frames, 3, RES, RES, device=dev)

    def step():
        amp = torch.autocast(dev.type, dtype=dtype) if args.dtype != "fp32" else contextlib.nullcontext()
        with torch.no_grad(), amp:
            return model(frames)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    best, med = min(times), statistics.median(times)
    fps = args.frames / med
    flops = teacher_flops()
    print(json.dumps({
        "bench": "teacher", "impl": "pytorch" + ("+compile" if args.compile else ""), "dtype": args.dtype,
        "frames": args.frames, "median_s": med, "min_s": best, "frames_per_s": fps,
        "gflop_per_frame": flops / 1e9, "tflops": flops * fps / 1e12,
        "mfu": flops * fps / (args.peak_tflops * 1e12),
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
