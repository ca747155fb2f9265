package stage1

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/configs"
	"github.com/umt-dev/umt/models/vit"
)

// TestPresetsAreUMTsRecipes: the bundled b16/l16 presets are the official launch scripts'
// settings (UMT.md §1.1, §1.7), and every preset parses and validates.
func TestPresetsAreUMTsRecipes(t *testing.T) {
	for _, name := range configs.Names() {
		if _, err := LoadConfig(name); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	for name, model := range map[string]vit.Config{"b16": vit.Base16, "l16": vit.Large16} {
		c, err := LoadConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Model != model {
			t.Errorf("%s model %+v, want %+v", name, c.Model, model)
		}
		if math.Abs(c.PeakLR()-1.2e-3) > 1e-15 || math.Abs(c.FinalLR()-8e-5) > 1e-18 {
			t.Errorf("%s: lr %g → %g, want 1.2e-3 → 8e-5", name, c.PeakLR(), c.FinalLR())
		}
		if c.Epochs != 201 || c.WarmupEpochs != 40 || c.BatchSize != 64 || c.World != 32 || c.MaskRatio != 0.8 ||
			c.Optim.Beta1 != 0.9 || c.Optim.Beta2 != 0.95 || c.Optim.WeightDecay != 0.05 || c.Optim.Eps != 1e-8 || c.Optim.ClipGrad != 0 {
			t.Errorf("%s: %+v differs from UMT's recipe", name, c)
		}
	}
	if vit.Base16.Params() < 86e6 || vit.Base16.Params() > 90e6 {
		t.Errorf("B/16 student with heads has %d parameters", vit.Base16.Params())
	}
}

// TestConfigOverlay: a file naming a preset overrides only the fields it sets; unknown fields
// and invalid values are errors.
func TestConfigOverlay(t *testing.T) {
	c, err := ParseConfig([]byte(`{"preset": "b16", "batch_size": 8, "world": 1, "max_steps": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize != 8 || c.World != 1 || c.MaxSteps != 5 || c.Model != vit.Base16 || c.Epochs != 201 {
		t.Fatalf("overlay gave %+v", c)
	}
	for _, bad := range []string{
		`{"preset": "b16", "batchsize": 8}`,
		`{"preset": "nope"}`,
		`{"preset": "b16", "masks": "random"}`,
		`{"preset": "b16", "warmup_epochs": 300}`,
		`{"preset": "b16", "model": {"dim": 100}}`,
		`[]`,
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// FuzzParseConfig: no input panics, and an accepted config validates.
func FuzzParseConfig(f *testing.F) {
	for _, n := range configs.Names() {
		b, _ := configs.Preset(n)
		f.Add(b)
	}
	f.Add([]byte(`{"preset":"tiny","lr":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err == nil && c.Validate() != nil {
			t.Fatalf("accepted an invalid config %+v", c)
		}
	})
}

// TestReturnIntervalOption: model.return_interval selects the student's aligned blocks as the
// official clip_student_return_interval (blocks depth−1−⌊i·interval⌋, ascending); a spacing that
// does not fit the depth is an error naming the override that fixes it.
func TestReturnIntervalOption(t *testing.T) {
	c, err := ParseConfig([]byte(`{"preset": "b16", "model": {"return_interval": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Model.ReturnIndex(), []int{1, 3, 5, 7, 9, 11}; !slices.Equal(got, want) {
		t.Errorf("b16 with return_interval 2 aligns blocks %v, want %v", got, want)
	}
	if _, err := c.Set("model.return_interval=1.5"); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Model.ReturnIndex(), []int{4, 5, 7, 8, 10, 11}; !slices.Equal(got, want) {
		t.Errorf("b16 with return_interval 1.5 aligns blocks %v, want %v", got, want)
	}
	_, err = ParseConfig([]byte(`{"preset": "b16", "model": {"return_interval": 3}}`))
	if err == nil || !strings.Contains(err.Error(), "--set model.return_interval=2") {
		t.Errorf("6 layers every 3 of 12 blocks: %v, want an error naming --set model.return_interval=2", err)
	}
}
