#!/usr/bin/python3
"""PyTorch CPU baseline for one forward+backward of UMT's text encoder on the MLM path, to
compare with models/bert's BenchmarkMLMStep.

The same computation, written independently with plain torch modules: BERT embeddings (word +
token type 0 + position, LayerNorm eps 1e-12), text layers [0, fusion) and fusion layers
[fusion, L) (post-LN self-attention with the additive padding mask, cross-attention whose keys
and values are Linear(encoder_width -> hidden) over the vision tokens, exact-GELU FFN), the
MLM head (dense -> GELU -> LayerNorm -> decoder tied to the word embeddings + bias) over every
position as xbert computes it, cross-entropy with ignore_index -100, backward into every
parameter and the vision tokens. float32, no dropout, no AMP. Shapes as the Go benchmark: B
captions of 32 tokens, half of the non-CLS positions labelled, 160 vision tokens per caption.
Run with Debian's python3-torch:

    /usr/bin/python3 bench/bert_cpu.py --preset bert-base --batch 4 --steps 3 --threads 2

--head masked runs the head at the labelled positions only, as models/bert does (same loss and
gradients, less work); the default is xbert's head over every position. Prints one JSON line with the minimum and median step time in seconds.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # hidden, layers, heads, intermediate, vocab, max_position, fusion_layer, encoder_width
    "tiny": dict(h=32, layers=4, heads=4, inter=64, vocab=30522, maxpos=64, fusion=2, enc=48),
    "bert-base": dict(h=768, layers=12, heads=12, inter=3072, vocab=30522, maxpos=512, fusion=9, enc=768),
    "bert-large": dict(h=1024, layers=24, heads=16, inter=4096, vocab=30522, maxpos=512, fusion=19, enc=1024),
}


class Attn(nn.Module):
    def __init__(self, h, heads, kv_in):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(h, h), nn.Linear(kv_in, h), nn.Linear(kv_in, h)
        self.o, self.ln = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)

    def forward(self, x, mem, bias):
        b, n, h = x.shape
        split = lambda t: t.view(b, -1, self.heads, h // self.heads).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(mem)), split(self.v(mem))
        s = q @ k.transpose(-1, -2) / (h // self.heads) ** 0.5
        if bias is not None:
            s = s + bias
        ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, n, h)
        return self.ln(self.o(ctx) + x)


class Layer(nn.Module):
    def __init__(self, c, cross):
        super().__init__()
        self.self_attn = Attn(c["h"], c["heads"], c["h"])
        self.cross = Attn(c["h"], c["heads"], c["enc"]) if cross else None
        self.fc1, self.fc2 = nn.Linear(c["h"], c["inter"]), nn.Linear(c["inter"], c["h"])
        self.ln = nn.LayerNorm(c["h"], eps=1e-12)

    def forward(self, x, bias, vis):
        x = self.self_attn(x, x, bias)
        if self.cross is not None:
            x = self.cross(x, vis, None)
        return self.ln(self.fc2(F.gelu(self.fc1(x))) + x)


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["h"]
        self.word, self.pos, self.typ = nn.Embedding(c["vocab"], h), nn.Embedding(c["maxpos"], h), nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList([Layer(c, l >= c["fusion"]) for l in range(c["layers"])])
        self.fusion = c["fusion"]
        self.head, self.head_ln = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(c["vocab"]))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, mask, vis, labels, masked_only=False):
        pos = torch.arange(ids.shape[1])
        x = self.ln(self.word(ids) + self.typ(torch.zeros_like(ids)) + self.pos(pos)[None])
        bias = ((1.0 - mask[:, None, None, :].float()) * -10000.0)
        for l, layer in enumerate(self.layers):  # text then fusion; fusion gets encoder_embeds
            x = layer(x, bias, vis)
        if masked_only:  # the head at the labelled positions only, as models/bert runs it
            keep = labels.view(-1) != -100
            x, labels = x.reshape(-1, x.shape[-1])[keep], labels.view(-1)[keep]
        t = self.head_ln(F.gelu(self.head(x)))
        logits = t @ self.word.weight.t() + self.bias
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bert-base", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--head", default="all", choices=["all", "masked"],
                    help="run the MLM head at every position (xbert) or at the labelled ones only (models/bert)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = PRESETS[a.preset]
    B, L, N = a.batch, 32, 160
    model = Bert(c)
    ids = torch.randint(1000, c["vocab"], (B, L))
    mask = torch.ones(B, L, dtype=torch.long)
    labels = torch.full((B, L), -100)
    sel = torch.zeros(B, L, dtype=torch.bool)
    sel[:, 1::2] = True
    labels[sel] = torch.randint(0, c["vocab"], (int(sel.sum()),))
    vis = torch.randn(B, N, c["enc"], requires_grad=True)
    times = []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        vis.grad = None
        loss = model(ids, mask, vis, labels, masked_only=a.head == "masked")
        loss.backward()
        if i > 0:  # the first step is warm-up
            times.append(time.perf_counter() - t0)
    print(json.dumps({"preset": a.preset, "batch": B, "threads": a.threads, "head": a.head, "torch": torch.__version__,
                      "min_s": min(times), "median_s": statistics.median(times), "loss": float(loss)}))


if __name__ == "__main__":
    main()
