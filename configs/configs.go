// Package configs bundles the training recipes as JSON files, so `umt train stage1 --config b16`
// works without a file on disk and the presets are reviewed like code:
//
//   - tiny.json: the reference set's tiny student (64 px, 4 frames, D 48, 3 blocks) for CPU smoke
//     runs and tests;
//   - b16.json, l16.json: UMT-B/16 and UMT-L/16 stage 1 exactly as the official launch scripts
//     (UMT.md §1.1, §1.7): 64 clips × 32 ranks, base lr 1.5e-4 per 256, min lr 1e-5, 40 warmup
//     epochs of 201, AdamW (0.9, 0.95) wd 0.05, mask ratio 0.8, drop path 0.1 / 0.2.
//
// A config file may name a preset in "preset" and override any field.
package configs

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.json
var files embed.FS

// Preset returns the bytes of a bundled config by name ("tiny", "b16", "l16").
func Preset(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("configs: no preset %q; bundled presets are %s", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the bundled presets.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// stage2Files are the stage-2 recipes (`umt train stage2 --config`), apart from stage 1's
// presets because their fields differ:
//
//   - stage2/tiny.json: the reference set's tiny model (64 px, 4 frames, D 48 × 3) for CPU runs;
//   - stage2/b16_5m.json, b16_25m.json, l16_25m.json: the official exp/pretraining configs
//     (UMT.md §2.1, §2.7): 4 frames of 224 px, 128 clips × 16 GPUs (B) or × 32 GPUs (L) per
//     step as one global batch, lr 1e-4 not batch-scaled, AdamW (0.9, 0.999) wd 0.02, 1 warmup
//     epoch of 10, cosine to 0.01×, max_txt_l 32, mask ratios 0.8 (video) / 0.5 (image),
//     embed_dim 512 / 768, drop path 0.1 / 0.2. The 5M and 25M configs differ only in data.
//
//go:embed stage2/*.json
var stage2Files embed.FS

// Stage2Preset returns the bytes of a bundled stage-2 config by name ("tiny", "b16_25m", …).
func Stage2Preset(name string) ([]byte, error) {
	b, err := stage2Files.ReadFile("stage2/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("configs: no stage-2 preset %q; bundled presets are %s", name, strings.Join(Stage2Names(), ", "))
	}
	return b, nil
}

// Stage2Names lists the bundled stage-2 presets.
func Stage2Names() []string {
	ents, _ := stage2Files.ReadDir("stage2")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}
