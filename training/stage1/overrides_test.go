package stage1

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/umt-dev/umt/schemas"
)

// TestSetOverridesOneField: --set changes exactly the named field (dotted into objects, JSON or
// bare-string values) and rejects unknown keys, objects and ill-typed values, naming the fields.
func TestSetOverridesOneField(t *testing.T) {
	base, err := LoadConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kv    string
		check func(Config) bool
	}{
		{"batch_size=4", func(c Config) bool { return c.BatchSize == 4 }},
		{"model.depth=6", func(c Config) bool { return c.Model.Depth == 6 }},
		{"optim.weight_decay=0", func(c Config) bool { return c.Optim.WeightDecay == 0 }},
		{"masks=among", func(c Config) bool { return c.Masks == MasksAmong }},
		{`masks="stored"`, func(c Config) bool { return c.Masks == MasksStored }},
		{"lr=2.5e-4", func(c Config) bool { return c.LR == 2.5e-4 }},
		{"model.return_interval=2", func(c Config) bool { return c.Model.ReturnInterval == 2 }}, // omitempty in JSON
	} {
		cfg := base
		key, err := cfg.Set(c.kv)
		if err != nil || !c.check(cfg) || key != strings.SplitN(c.kv, "=", 2)[0] {
			t.Errorf("Set(%q): key %q err %v, config %+v", c.kv, key, err, cfg)
			continue
		}
		// Nothing else moved: setting the field back gives the preset again.
		back := base
		_, _ = back.Set(c.kv)
		if cfg != back {
			t.Errorf("Set(%q) is not deterministic", c.kv)
		}
	}
	for kv, want := range map[string]string{
		"nokey=1":           "fields here are batch_size, ckpt_every",
		"model.nodepth=1":   "model.clip_dim, model.depth",
		"model=3":           "is an object",
		"batch_size=abc":    "batch_size",
		"batch_size":        "want key=value",
		"=3":                "want key=value",
		"batch_size.x=1":    "not an object",
		"model.depth=three": "model.depth",
	} {
		cfg := base
		if _, err := cfg.Set(kv); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set(%q) = %v, want an error containing %q", kv, err, want)
		}
		if cfg != base {
			t.Errorf("a rejected Set(%q) changed the config", kv)
		}
	}
}

// TestPresetTakesWhatTheDatasetFixes: the tiny preset on the demo's dataset (3 teacher layers,
// visible:2) takes return_layers 3 and masks among, says so, and then fits the dataset; a field
// the user chose (a --set or a config file's key) is kept, and the mismatch names its fix.
func TestPresetTakesWhatTheDatasetFixes(t *testing.T) {
	p := demoProvenance()
	r, err := LoadRecipe("tiny", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckDataset(r.Config, p); err == nil {
		t.Fatal("the bare tiny preset fits the demo dataset; the test no longer covers fitting")
	}
	notes := r.FitDataset(p)
	if err := CheckDataset(r.Config, p); err != nil {
		t.Fatalf("after FitDataset: %v", err)
	}
	if got := strings.Join(notes, "\n"); !strings.Contains(got, "model.return_layers 2 → 3") || !strings.Contains(got, "masks sample → among") {
		t.Errorf("notes %q do not say what changed", got)
	}

	r, err = LoadRecipe("tiny", []string{"model.return_layers=2"})
	if err != nil {
		t.Fatal(err)
	}
	r.FitDataset(p)
	if err := CheckDataset(r.Config, p); err == nil || !strings.Contains(err.Error(), "--set model.return_layers=3") {
		t.Errorf("a chosen return_layers: CheckDataset = %v, want the override that fixes it", err)
	}

	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"preset": "tiny", "masks": "sample"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = LoadRecipe(file, nil); err != nil {
		t.Fatal(err)
	}
	r.FitDataset(p)
	if r.Config.Masks != MasksSample || r.Config.Model.ReturnLayers != 3 {
		t.Errorf("a file's masks must stay and the preset's return_layers must fit: %+v", r.Config)
	}
}

// TestEveryDatasetErrorNamesItsOverride: for each way a config can miss a dataset, the error
// names --set overrides, and applying exactly those makes the dataset fit.
func TestEveryDatasetErrorNamesItsOverride(t *testing.T) {
	p := demoProvenance()
	fitting, err := LoadRecipe("tiny", []string{"model.return_layers=3", "masks=among"})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckDataset(fitting.Config, p); err != nil {
		t.Fatal(err)
	}
	full := p
	full.Layout, full.Masks = "full", 0
	for _, c := range []struct {
		name   string
		break_ []string
		prov   schemas.Provenance
	}{
		{"frames", []string{"model.frames=8"}, p},
		{"img_size", []string{"model.img_size=128"}, p},
		{"patch", []string{"model.patch=8"}, p},
		{"return_layers", []string{"model.return_layers=1"}, p},
		{"clip_dim", []string{"model.clip_dim=64"}, p},
		{"mask_ratio", []string{"mask_ratio=0.5"}, p},
		{"masks", []string{"masks=sample"}, p},
		{"stored without masks", []string{"masks=stored"}, full},
	} {
		cfg := fitting.Config
		for _, kv := range c.break_ {
			if _, err := cfg.Set(kv); err != nil {
				t.Fatal(err)
			}
		}
		err := cfg.Validate()
		if err == nil {
			err = CheckDataset(cfg, c.prov)
		}
		if err == nil {
			t.Errorf("%s: %v accepted", c.name, c.break_)
			continue
		}
		fixes := regexp.MustCompile(`--set (\S+=[^\s,;)]+)`).FindAllStringSubmatch(err.Error(), -1)
		if len(fixes) == 0 {
			t.Errorf("%s: %q names no --set override", c.name, err)
			continue
		}
		for _, f := range fixes {
			if _, err := cfg.Set(f[1]); err != nil {
				t.Fatalf("%s: the suggested --set %s: %v", c.name, f[1], err)
			}
			if err := cfg.Validate(); err == nil && CheckDataset(cfg, c.prov) == nil {
				break // the first suggestion (and those before it) fixed it
			}
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: after the suggested overrides: %v", c.name, err)
		} else if err := CheckDataset(cfg, c.prov); err != nil {
			t.Errorf("%s: after the suggested overrides of %q: %v", c.name, fixes, err)
		}
	}
}

// TestEveryValidateErrorNamesItsOverride: each invalid field's error names a --set (or
// --world) that repairs it.
func TestEveryValidateErrorNamesItsOverride(t *testing.T) {
	for _, kv := range []string{"batch_size=0", "epochs=0", "warmup_epochs=200", "lr=0", "min_lr=1",
		"mask_ratio=1", "masks=bogus", "optim.eps=0", "log_every=-1", "model.tubelet=2",
		"model.patch=7", "model.heads=5", "model.return_layers=9", "model.drop_path=1", "model.depth=0"} {
		cfg, _ := LoadConfig("tiny")
		if _, err := cfg.Set(kv); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if err == nil {
			t.Errorf("%s accepted", kv)
			continue
		}
		fixes := regexp.MustCompile(`--set (\S+=[^\s,;)]+)`).FindAllStringSubmatch(err.Error(), -1)
		if len(fixes) == 0 {
			t.Errorf("%s: %q names no override", kv, err)
			continue
		}
		for _, f := range fixes {
			if _, err := cfg.Set(f[1]); err != nil {
				t.Fatalf("%s: suggested --set %s: %v", kv, f[1], err)
			}
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: after %q still invalid: %v", kv, fixes, err)
		}
	}
}

// demoProvenance is what `make demo` writes: the tiny teacher (3 layers, dim 32) at 64 px,
// 4 frames, layout visible:2.
func demoProvenance() schemas.Provenance {
	return schemas.Provenance{SchemaVersion: schemas.ClipSchemaVersion, Teacher: "tiny", Resolution: 64,
		Layout: "visible:2", Masks: 2, MaskRatio: 0.8, Precision: schemas.PrecisionF16,
		Frames: 4, Size: 64, K: 3, HW: 16, D: 32}
}
