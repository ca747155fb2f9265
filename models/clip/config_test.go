package clip

import (
	"slices"
	"strings"
	"testing"
)

// TestReturnIndices: the teacher returns every interval-th block counted from the last, stacked
// in ascending order (clip.py: return_index = [layers-1-int(i*interval)], collected in forward
// order); settings the official code cannot stack are rejected by Validate.
func TestReturnIndices(t *testing.T) {
	for _, c := range []struct {
		layers, k int
		interval  float64
		want      []int
	}{
		{12, 6, 1, []int{6, 7, 8, 9, 10, 11}},
		{24, 6, 1, []int{18, 19, 20, 21, 22, 23}},
		{12, 3, 2, []int{7, 9, 11}},
		{12, 6, 2, []int{1, 3, 5, 7, 9, 11}},
		{12, 4, 3, []int{2, 5, 8, 11}},
		{12, 4, 1.5, []int{7, 8, 10, 11}},
		{3, 2, 1, []int{1, 2}},
		{4, 1, 3, []int{3}},
	} {
		got := Config{Layers: c.layers, ReturnLayers: c.k, ReturnInterval: c.interval}.ReturnIndices()
		if !slices.Equal(got, c.want) {
			t.Errorf("layers %d, K %d, interval %v: %v, want %v", c.layers, c.k, c.interval, got, c.want)
		}
	}
	for _, c := range []struct {
		k        int
		interval float64
	}{{6, 3}, {2, 0.5}, {2, -1}} {
		cfg := ViTB16.WithDefaults()
		cfg.ReturnLayers, cfg.ReturnInterval = c.k, c.interval
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "return_interval") {
			t.Errorf("K %d every %v blocks of 12: Validate = %v, want a return_interval error", c.k, c.interval, err)
		}
		if got := cfg.ReturnIndices(); got != nil {
			t.Errorf("K %d every %v blocks of 12: ReturnIndices = %v for an invalid config", c.k, c.interval, got)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Config{Width: 1024, Layers: 24, Patch: 14, OutputDim: 768, PosGrid: 16}.WithDefaults()
	if c.Heads != 16 || c.MLPDim != 4096 || c.Resolution != 196 || c.ReturnLayers != 6 || c.Norm != "l2" || c.Mean != ImageNetMean || c.Eps != 1e-5 {
		t.Errorf("L/14 defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	for _, p := range []Config{ViTB16, ViTL14} {
		if err := p.WithDefaults().Validate(); err != nil {
			t.Errorf("preset %+v: %v", p, err)
		}
	}
}

func TestParseConfigJSON(t *testing.T) {
	clipModel := `{"model_type":"clip","projection_dim":768,"vision_config":{"hidden_size":1024,"intermediate_size":4096,
		"num_attention_heads":16,"num_hidden_layers":24,"patch_size":14,"image_size":224,"hidden_act":"quick_gelu","layer_norm_eps":1e-05}}`
	c, err := ParseConfigJSON([]byte(clipModel))
	if err != nil {
		t.Fatal(err)
	}
	if c.Width != 1024 || c.Heads != 16 || c.Layers != 24 || c.Patch != 14 || c.PosGrid != 16 || c.OutputDim != 768 || c.MLPDim != 4096 {
		t.Errorf("CLIPModel config: %+v", c)
	}
	vision := `{"model_type":"clip_vision_model","hidden_size":768,"num_attention_heads":12,"patch_size":16,"image_size":224,"projection_dim":512}`
	if c, err = ParseConfigJSON([]byte(vision)); err != nil || c.Width != 768 || c.PosGrid != 14 || c.OutputDim != 512 {
		t.Errorf("CLIPVisionModel config: %+v %v", c, err)
	}
	own := `{"width":64,"layers":3,"heads":4,"patch":16,"output_dim":32,"resolution":64,"norm":"none","mean":[0.5,0.5,0.5]}`
	if c, err = ParseConfigJSON([]byte(own)); err != nil || c.Heads != 4 || c.Norm != "none" || c.Mean[0] != 0.5 {
		t.Errorf("own config: %+v %v", c, err)
	}
	for _, bad := range []struct{ in, want string }{
		{`[1]`, "not a JSON object"},
		{`{"widht": 3}`, "unknown field"},
		{`{"model_type":"bert","hidden_size":768}`, "not a CLIP model"},
		{`{"model_type":"clip","vision_config":{"hidden_act":"gelu"}}`, "quick_gelu"},
		{`{"model_type":"clip","vision_config":{"hidden_size":"big"}}`, "config.json"},
	} {
		if _, err := ParseConfigJSON([]byte(bad.in)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error containing %q", bad.in, err, bad.want)
		}
	}
}

// FuzzParseConfigJSON: no input panics; whatever parses either validates after defaulting or
// is rejected by Validate with an error (never a panic in WithDefaults/Validate/ReturnIndices).
func FuzzParseConfigJSON(f *testing.F) {
	f.Add([]byte(`{"model_type":"clip","projection_dim":512,"vision_config":{"hidden_size":768,"patch_size":16,"image_size":224}}`))
	f.Add([]byte(`{"width":64,"layers":3,"heads":4,"patch":16,"output_dim":32}`))
	f.Add([]byte(`{"layers":-1,"return_layers":5,"return_interval":-3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfigJSON(data)
		if err != nil {
			return
		}
		c = c.WithDefaults()
		if c.Validate() == nil {
			for _, i := range c.ReturnIndices() {
				if i < 0 || i >= c.Layers {
					t.Fatalf("valid config %+v returns block %d", c, i)
				}
			}
		}
	})
}
