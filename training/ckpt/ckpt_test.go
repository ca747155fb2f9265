package ckpt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/training/loader"
)

func fill(n int, s float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = s * float32(i%97-48)
	}
	return out
}

// TestSaveLoadRoundTrip: weights, moments and state come back bit for bit; latest follows the
// newest save; the model file is an official state dict.
func TestSaveLoadRoundTrip(t *testing.T) {
	root := t.TempDir()
	c := vit.Tiny
	n := c.Params()
	w, m, v := fill(n, 0.01), fill(n, 0.001), fill(n, 1e-6)
	st := State{Step: 7, Loader: loader.Position{Epoch: 1, Offset: 2, Seed: 3}, Model: c, Loss: 1.25, Run: []byte(`{"batch_size":2}`)}
	if _, err := Save(root, st, w, m, v); err != nil {
		t.Fatal(err)
	}
	st.Step = 9
	w[5] = 42
	if _, err := Save(root, st, w, m, v); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	var run bytes.Buffer
	json.Compact(&run, ck.State.Run)
	if ck.State.Step != 9 || ck.State.Loader != st.Loader || ck.State.Loss != 1.25 || run.String() != `{"batch_size":2}` {
		t.Fatalf("state %+v", ck.State)
	}
	for i := range w {
		if ck.Weights[i] != w[i] || ck.M[i] != m[i] || ck.V[i] != v[i] {
			t.Fatalf("value %d differs after round trip", i)
		}
	}
	mf, err := weights.Open(filepath.Join(ck.Dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	if !slices.Equal(mf.Names(), vit.StateNames(c)) {
		t.Fatalf("model file holds %v, want the state dict %v in its order", mf.Names(), vit.StateNames(c))
	}
	old, err := Load(filepath.Join(root, "step-00000007"))
	if err != nil || old.State.Step != 7 {
		t.Fatalf("older checkpoint: %v", err)
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.Name()[0] == '.' {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}

// TestCorruptionDetected: a flipped byte in a tensor file fails Load with a checksum error.
func TestCorruptionDetected(t *testing.T) {
	root := t.TempDir()
	c := vit.Tiny
	n := c.Params()
	dir, err := Save(root, State{Step: 1, Model: c}, fill(n, 1), fill(n, 1), fill(n, 1))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "optim.safetensors")
	b, _ := os.ReadFile(p)
	b[len(b)-3] ^= 0xff
	os.WriteFile(p, b, 0o644)
	if _, err := Load(root); err == nil {
		t.Fatal("corrupted checkpoint loaded")
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("empty directory loaded")
	}
}

// FuzzParseState: arbitrary bytes never panic; accepted states are valid.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"step":3,"model":{"img_size":64,"patch":16,"frames":4,"tubelet":1,"dim":48,"depth":3,"heads":4,"mlp_ratio":4,"clip_dim":32,"return_layers":2},"files":{"model.safetensors":"0000000000000000000000000000000000000000000000000000000000000000","optim.safetensors":"0000000000000000000000000000000000000000000000000000000000000000"}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseState(b)
		if err == nil && (s.Step < 0 || s.Model.Validate() != nil) {
			t.Fatalf("accepted invalid state %+v", s)
		}
	})
}
