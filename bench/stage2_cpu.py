#!/usr/bin/python3
"""PyTorch CPU baseline for one UMT stage-2 training step, to compare with training/stage2's
BenchmarkStage2Step.

The same computation as models/multimodal's Step + stage2.Trainer, written with plain torch
modules (the vision blocks from bench/stage1_cpu.py, the BERT layers from bench/bert_cpu.py):

- vision (multi_modality vit.py): Conv3d tubelet-1 patch embed + fixed sinusoid table, keep the
  visible tokens, pre-norm blocks; x_clip[k] = LayerNorm_1e-5(head_k(norm(x_lk) + pe[visible]))
  for the last K blocks; vision_embeds = norm(x_L); pooled = pool_norm(mean(vision_embeds)).
- UTA: mean(2 - 2 cos(x_clip, teacher)) with both sides L2-normalised.
- VTC: vision_proj(pooled), text_proj(CLS of text mode), L2, sim / temp (temp clamped to
  [0.001, 0.5]), idx-based positives, both directions averaged.
- VTM: one hard negative per sample drawn (no grad) from softmax(sim) + 1e-4 with positives
  zeroed, fusion layers over text [t; t; t_neg] x vision [v; v_neg; v], itm_head on CLS,
  cross-entropy against [1]*B + [0]*2B.
- MLM: masking probability 0.5 (PAD and CLS never), 80 % [MASK], 10 % random id, 10 % kept,
  text mode on the masked ids, fusion with vision_embeds, the tied MLM head, cross-entropy
  with ignore_index -100.
- total = uta + vtc + vtm + mlm, backward, AdamW lr 1e-4, betas (0.9, 0.999), wd 0.02 with
  bias and 1-D parameters exempt (the 0-d temp decays).

float32, no AMP, no dropout, drop path 0 (as the Go benchmark). Random init and random inputs:
this script times the step, it does not check values (models/multimodal's parity tests do).

    /usr/bin/python3 bench/stage2_cpu.py --preset b16 --batch 2 --steps 3 --threads 2

--head masked runs the MLM head at the labelled positions only, as models/bert does (same loss
and gradients, less work); the default is xbert's head over every position. Prints one JSON line
with the minimum and median step time in seconds.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_cpu import PRESETS as BERT, Layer  # noqa: E402
from stage1_cpu import Block, PatchEmbed, sinusoid  # noqa: E402

PRESETS = {
    # vision: img, patch, frames, dim, depth, heads, clip_dim, k; text: a bert_cpu preset; embed
    "tiny": dict(vision=dict(img=64, patch=16, frames=4, dim=48, depth=3, heads=4, clip_dim=32, k=2), text="tiny", embed=16),
    "b16": dict(vision=dict(img=224, patch=16, frames=4, dim=768, depth=12, heads=12, clip_dim=512, k=6), text="bert-base", embed=512),
}
PAD, CLS, SEP, MASK = 0, 101, 102, 103


class Vision(nn.Module):
    def __init__(self, img, patch, frames, dim, depth, heads, clip_dim, k, mlp_ratio=4):
        super().__init__()
        self.k = k
        self.patch_embed = PatchEmbed(dim, patch)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.heads = nn.ModuleList([nn.Sequential(nn.Linear(dim, clip_dim), nn.LayerNorm(clip_dim, eps=1e-5)) for _ in range(k)])
        self.pool_norm = nn.LayerNorm(dim, eps=1e-6)
        self.register_buffer("pe", sinusoid(frames * (img // patch) ** 2, dim)[None], persistent=False)

    def forward(self, video, mask):
        x = self.patch_embed.proj(video).flatten(2).transpose(1, 2) + self.pe
        b, _, d = x.shape
        x = x[~mask].reshape(b, -1, d)
        pe = self.pe.expand(b, -1, -1)[~mask].reshape(b, -1, d)
        clips = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i >= len(self.blocks) - self.k:
                clips.append(self.heads[i - (len(self.blocks) - self.k)](self.norm(x) + pe))
        embeds = self.norm(x)
        return torch.stack(clips), embeds, self.pool_norm(embeds.mean(1))


class Text(nn.Module):
    """BERT embeddings, text layers [0, fusion) and fusion layers [fusion, L), the MLM head."""

    def __init__(self, c):
        super().__init__()
        h = c["h"]
        self.word, self.pos, self.typ = nn.Embedding(c["vocab"], h), nn.Embedding(c["maxpos"], h), nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList([Layer(c, l >= c["fusion"]) for l in range(c["layers"])])
        self.fusion = c["fusion"]
        self.head, self.head_ln = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(c["vocab"]))

    @staticmethod
    def additive(mask):
        return (1.0 - mask[:, None, None, :].float()) * -10000.0

    def text(self, ids, mask):
        x = self.ln(self.word(ids) + self.typ(torch.zeros_like(ids)) + self.pos(torch.arange(ids.shape[1]))[None])
        bias = self.additive(mask)
        for layer in self.layers[:self.fusion]:
            x = layer(x, bias, None)
        return x

    def fuse(self, x, mask, vis):
        bias = self.additive(mask)
        for layer in self.layers[self.fusion:]:
            x = layer(x, bias, vis)
        return x

    def mlm(self, x, labels, masked_only):
        if masked_only:
            keep = labels.view(-1) != -100
            x, labels = x.reshape(-1, x.shape[-1])[keep], labels.view(-1)[keep]
        t = self.head_ln(F.gelu(self.head(x)))
        logits = t @ self.word.weight.t() + self.bias
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


class UMT(nn.Module):
    def __init__(self, p):
        super().__init__()
        v, t = p["vision"], BERT[p["text"]]
        self.vision_encoder = Vision(**v)
        self.text_encoder = Text(t)
        self.vision_proj = nn.Linear(v["dim"], p["embed"])
        self.text_proj = nn.Linear(t["h"], p["embed"])
        self.itm_head = nn.Linear(t["h"], 2)
        self.temp = nn.Parameter(torch.tensor(0.07))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, video, vmask, targets, ids, tmask, idx, masked_only):
        with torch.no_grad():
            self.temp.clamp_(0.001, 0.5)
        x_clip, vis, pooled = self.vision_encoder(video, vmask)
        uta = (2 - 2 * (F.normalize(x_clip, dim=-1) * F.normalize(targets, dim=-1)).sum(-1)).mean()

        txt = self.text_encoder.text(ids, tmask)
        vf = F.normalize(self.vision_proj(pooled), dim=-1)
        tf = F.normalize(self.text_proj(txt[:, 0]), dim=-1)
        sim_v2t = vf @ tf.t() / self.temp
        sim_t2v = sim_v2t.t()
        pos = (idx[:, None] == idx[None, :]).float()
        pos = pos / pos.sum(1, keepdim=True)
        vtc = (-(F.log_softmax(sim_v2t, 1) * pos).sum(1).mean() - (F.log_softmax(sim_t2v, 1) * pos).sum(1).mean()) / 2

        B = ids.shape[0]
        with torch.no_grad():
            same = idx[:, None] == idx[None, :]
            w_t2v = (F.softmax(sim_t2v.float(), 1) + 1e-4).masked_fill(same, 0)
            w_v2t = (F.softmax(sim_v2t.float(), 1) + 1e-4).masked_fill(same, 0)
            w_t2v = torch.nan_to_num(w_t2v, nan=0.01, posinf=0.01, neginf=0.01)
            w_v2t = torch.nan_to_num(w_v2t, nan=0.01, posinf=0.01, neginf=0.01)
            neg_v = torch.multinomial(w_t2v, 1).squeeze(1)
            neg_t = torch.multinomial(w_v2t, 1).squeeze(1)
        text3 = torch.cat([txt, txt, txt[neg_t]])
        mask3 = torch.cat([tmask, tmask, tmask[neg_t]])
        vis3 = torch.cat([vis, vis[neg_v], vis])
        itm = self.itm_head(self.text_encoder.fuse(text3, mask3, vis3)[:, 0])
        labels = torch.cat([torch.ones(B, dtype=torch.long), torch.zeros(2 * B, dtype=torch.long)])
        vtm = F.cross_entropy(itm, labels)

        mids, mlabels = mask_mlm(ids, self.text_encoder.word.num_embeddings)
        fused = self.text_encoder.fuse(self.text_encoder.text(mids, tmask), tmask, vis)
        mlm = self.text_encoder.mlm(fused, mlabels, masked_only)
        return uta, vtc, vtm, mlm


def mask_mlm(ids, vocab, prob=0.5):
    labels = ids.clone()
    masked = torch.bernoulli(torch.full(ids.shape, prob)).bool()
    masked[ids == PAD] = False
    masked[ids == CLS] = False
    labels[~masked] = -100
    inp = ids.clone()
    replace = torch.bernoulli(torch.full(ids.shape, 0.8)).bool() & masked
    inp[replace] = MASK
    rand = torch.bernoulli(torch.full(ids.shape, 0.5)).bool() & masked & ~replace
    inp[rand] = torch.randint(vocab, ids.shape)[rand]
    return inp, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--txt-len", type=int, default=32)
    ap.add_argument("--head", default="all", choices=["all", "masked"],
                    help="run the MLM head at every position (xbert) or at the labelled ones only (models/bert)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    p = PRESETS[a.preset]
    v, vocab = p["vision"], BERT[p["text"]]["vocab"]
    m = UMT(p)
    decay = [q for n, q in m.named_parameters() if not (q.ndim == 1 or n.endswith(".bias"))]
    rest = [q for n, q in m.named_parameters() if q.ndim == 1 or n.endswith(".bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.02}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    B, T, L = a.batch, v["frames"], a.txt_len
    hw = (v["img"] // v["patch"]) ** 2
    nvis = hw - int(hw * 0.8)
    video = torch.randn(B, 3, T, v["img"], v["img"])
    vmask = torch.ones(B, T, hw, dtype=torch.bool)
    for b in range(B):
        for t in range(T):
            vmask[b, t, torch.randperm(hw)[:nvis]] = False
    vmask = vmask.reshape(B, -1)
    targets = torch.randn(v["k"], B, T * nvis, v["clip_dim"])
    ids = torch.randint(1000, vocab, (B, L))
    tmask = torch.ones(B, L, dtype=torch.long)
    ids[:, 0] = CLS
    for b in range(B):  # captions of different lengths, [SEP] then [PAD]
        n = L - 1 - b % max(1, L // 4)
        ids[b, n] = SEP
        ids[b, n + 1:], tmask[b, n + 1:] = PAD, 0
    idx = torch.arange(B)
    times = []
    for _ in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        uta, vtc, vtm, mlm = m(video, vmask, targets, ids, tmask, idx, a.head == "masked")
        loss = ((uta + vtc) + vtm) + mlm
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = times[1:]  # the first step allocates optimizer state
    print(json.dumps({"preset": a.preset, "batch": B, "frames": T, "visible": T * nvis, "txt_len": L, "threads": a.threads,
                      "head": a.head, "torch": torch.__version__, "step_s_min": min(times),
                      "step_s_median": statistics.median(times), "steps": len(times),
                      "losses": [float(uta), float(vtc), float(vtm), float(mlm)]}))


if __name__ == "__main__":
    main()
