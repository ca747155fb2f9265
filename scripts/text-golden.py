#!/usr/bin/env python3
"""Writes testdata/text/golden.json: random captions (every assigned code point below U+30000
and words chosen to hit pre_text's and the tokenizer's special cases) with the wordpieces the
official UMT tokenizer gives them, raw and after pre_text.

Usage: scripts/text-golden.py UMT_REPO VOCAB_TXT OUT.json [N] [SEED]
(testdata/text/golden.json: N 300, SEED 3, vocab testdata/refdata/umt/bert-base-uncased/vocab.txt)
UMT_REPO is a checkout of the official repository: its tokenization_bert.py (BasicTokenizer,
WordpieceTokenizer) and dataset/utils.py's pre_text run unchanged. The three helper predicates
tokenization_bert.py imports from transformers are given here as transformers 4.21 defines them,
and tokenize() follows that version's slow path (specials kept whole, other characters
lower-cased one by one).
"""
import ast, json, random, re, sys, types, unicodedata

repo, vocab_path, out_path = sys.argv[1:4]
src = repo + "/multi_modality/models/backbones/bert/tokenization_bert.py"
n = int(sys.argv[4]) if len(sys.argv) > 4 else 300
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 3

def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"

def is_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")

def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")

tu = types.ModuleType("transformers.tokenization_utils")
tu.PreTrainedTokenizer = object
tu._is_whitespace, tu._is_control, tu._is_punctuation = is_whitespace, is_control, is_punctuation
ut = types.ModuleType("transformers.utils")
ut.logging = types.SimpleNamespace(get_logger=lambda name: None)
sys.modules.update({"transformers": types.ModuleType("transformers"), "transformers.tokenization_utils": tu, "transformers.utils": ut})
ns = {"__name__": "tokenization_bert"}
exec(compile(open(src, encoding="utf-8").read(), src, "exec"), ns)

vocab = ns["load_vocab"](vocab_path)
basic = ns["BasicTokenizer"](do_lower_case=True)
wordpiece = ns["WordpieceTokenizer"](vocab=vocab, unk_token="[UNK]")
SPECIALS = ["[CLS]", "[MASK]", "[PAD]", "[SEP]", "[UNK]"]
special_re = "(" + "|".join(re.escape(s) for s in SPECIALS) + ")"

def tokenize(text):
    text = re.sub(special_re + r"|(.+?)", lambda m: m.group(1) or m.group(2).lower(), text)
    out = []
    for part in re.split(special_re, text):
        if part in SPECIALS:
            out.append(part)
        elif part:
            for tok in basic.tokenize(part, never_split=SPECIALS):
                out += wordpiece.tokenize(tok)
    return out

# pre_text is taken out of dataset/utils.py by itself: that module imports torchvision and PIL.
utils = repo + "/multi_modality/dataset/utils.py"
tree = ast.parse(open(utils, encoding="utf-8").read())
fn = next(d for d in tree.body if isinstance(d, ast.FunctionDef) and d.name == "pre_text")
pt = {"re": re}
exec(compile(ast.Module(body=[fn], type_ignores=[]), utils, "exec"), pt)
pre_text = pt["pre_text"]

rng = random.Random(seed)
pool = [chr(c) for c in range(0x30000) if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) != "Cn"]
near = [ch for ch in pool if ord(ch) < 0x530 or 0x1E00 <= ord(ch) < 0x2200 or 0xFB00 <= ord(ch) < 0xFF70]
words = ["a", "man", "Guitar", "ΟΔΥΣΣΕΥΣ", "ΣΑΣ", "Σ.", "Σ:Σ", "İstanbul", "Straße", "naïve", "e\u0301",
         "[MASK]", "[mask]", "[CL", "S]", "<person>", "don't", "a/b", "x.y", "ǅemal", "\u2028", "\t", "\n",
         "  ", "\x85", "\u00a0", "\x1c", "\u200b", "\u1e9e", "\u212a", "\u2126", "\ufb01", "中文", "\U000e0001",
         "a" * 101, "supercalifragilisticexpialidocious"]
cases = []
for _ in range(n):
    parts = []
    for _ in range(rng.randint(0, 10)):
        if rng.random() < 0.5:
            parts.append(rng.choice(words))
        else:
            parts.append("".join(rng.choice(pool if rng.random() < 0.3 else near) for _ in range(rng.randint(1, 5))))
        parts.append(rng.choice([" ", "", "  ", "\t", "-", ",", ". "]))
    c = "".join(parts)
    p = pre_text(c)
    cases.append({"caption": c, "wordpieces": tokenize(c), "pre_text": p, "pre_text_wordpieces": tokenize(p),
                  "pre_text_3": pre_text(c, 3)})
with open(out_path, "w", encoding="utf-8") as f:
    head = json.dumps({"python": sys.version.split()[0], "unicodedata": unicodedata.unidata_version, "seed": seed})
    f.write(head[:-1] + ', "cases": [\n')
    f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n]}\n")
