package clip

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights"
	"github.com/x448/float16"
)

// tinyHFConfig is a Hugging Face CLIPModel config.json for the reference set's tiny teacher.
func tinyHFConfig(s testenv.Stage1) []byte {
	c := map[string]any{
		"model_type":     "clip",
		"projection_dim": s.Teacher.OutputDim,
		"vision_config": map[string]any{
			"hidden_size": s.Teacher.Width, "intermediate_size": 4 * s.Teacher.Width,
			"num_attention_heads": s.Teacher.Heads, "num_hidden_layers": s.Teacher.Layers,
			"patch_size": s.Patch, "image_size": s.Img, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
		},
	}
	b, _ := json.Marshal(c)
	return b
}

// runRef encodes the reference frames with w/cfg and compares with the reference outputs.
func runRef(t *testing.T, name string, w *Weights, cfg Config, tol float64) {
	t.Helper()
	m, io, _ := refSet(t)
	frames := refFrames(t, m, io)
	be := cpu.New(cpu.Options{Threads: 2})
	tch, err := New(be, cfg, w, Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer tch.Close()
	feat, attn, err := tch.Encode(frames, m.B, m.T, m.Img, m.Img)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	wf := refTensor(t, io, "teacher.features", m.Teacher.ReturnLayers, m.B, m.T*m.HW(), m.Teacher.OutputDim)
	wa := refTensor(t, io, "teacher.attn_cls", m.B*m.T, m.HW())
	compareRef(t, name+" features", feat, wf, tol)
	compareRef(t, name+" attn_cls", attn, wa, tol)
}

// refFlags are the run settings the weights cannot tell: resolution and returned layers.
func refFlags(m testenv.Stage1) Config {
	return Config{Resolution: m.Img, ReturnLayers: m.Teacher.ReturnLayers, ReturnInterval: m.Teacher.ReturnInterval}
}

func TestLoadForms(t *testing.T) {
	m, _, _ := refSet(t)
	ref := testenv.RefData(t)
	hfDir := t.TempDir()
	hfWeights, err := os.ReadFile(filepath.Join(ref, "teacher_tiny_hf.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(hfDir, "model.safetensors"), hfWeights, 0o644)
	os.WriteFile(filepath.Join(hfDir, "config.json"), tinyHFConfig(m), 0o644)
	ctx := context.Background()

	// A local Hugging Face directory: heads etc. from config.json.
	w, cfg, err := Load(ctx, hfDir, LoadOptions{Config: refFlags(m)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Heads != m.Teacher.Heads {
		t.Errorf("heads %d from config.json, want %d", cfg.Heads, m.Teacher.Heads)
	}
	runRef(t, "hf dir", w, cfg, refTolerance)

	// An OpenAI-named file plus flags.
	flags := refFlags(m)
	flags.Heads = m.Teacher.Heads
	w, cfg, err = Load(ctx, filepath.Join(ref, "teacher_tiny_openai.safetensors"), LoadOptions{Config: flags})
	if err != nil {
		t.Fatal(err)
	}
	runRef(t, "openai file", w, cfg, refTolerance)

	// An OpenAI-named file with --config (our JSON).
	cf := filepath.Join(t.TempDir(), "teacher.json")
	os.WriteFile(cf, []byte(fmt.Sprintf(`{"heads": %d, "resolution": %d, "return_layers": %d, "return_interval": %v}`, m.Teacher.Heads, m.Img, m.Teacher.ReturnLayers, m.Teacher.ReturnInterval)), 0o644)
	w, cfg, err = Load(ctx, filepath.Join(ref, "teacher_tiny_openai.safetensors"), LoadOptions{ConfigFile: cf})
	if err != nil {
		t.Fatal(err)
	}
	runRef(t, "openai file + config", w, cfg, refTolerance)

	// hf:NAME through a local stand-in of the hub.
	files := map[string][]byte{"config.json": tinyHFConfig(m), "model.safetensors": hfWeights}
	srv := httptest.NewServer(hubHandler("openai/clip-tiny", files))
	defer srv.Close()
	hub := &weights.Hub{Endpoint: srv.URL, CacheDir: t.TempDir()}
	w, cfg, err = Load(ctx, "hf:openai/clip-tiny", LoadOptions{Config: refFlags(m), Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	runRef(t, "hf:NAME", w, cfg, refTolerance)

	// Errors name the problem.
	for _, c := range []struct{ spec, want string }{
		{filepath.Join(t.TempDir(), "nope.safetensors"), "no such file"},
		{t.TempDir(), "config.json"},
		{"hf:not a name", "owner/name"},
	} {
		if _, _, err := Load(ctx, c.spec, LoadOptions{Hub: hub}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q): %v, want an error mentioning %q", c.spec, err, c.want)
		}
	}
}

// hubHandler serves files like huggingface.co (listing with checksums + resolve URLs).
func hubHandler(repo string, files map[string][]byte) http.Handler {
	const commit = "0123456789abcdef0123456789abcdef01234567"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/models/"+repo+"/revision/main" {
			var sibs []map[string]any
			for name, data := range files {
				s := map[string]any{"rfilename": name, "size": len(data)}
				if strings.HasSuffix(name, ".safetensors") {
					sum := sha256.Sum256(data)
					s["lfs"] = map[string]any{"sha256": hex.EncodeToString(sum[:]), "size": len(data)}
				} else {
					sum := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(data))), data...))
					s["blobId"] = hex.EncodeToString(sum[:])
				}
				sibs = append(sibs, s)
			}
			json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": sibs})
			return
		}
		if name, ok := strings.CutPrefix(r.URL.Path, "/"+repo+"/resolve/"+commit+"/"); ok {
			if data, ok := files[name]; ok {
				w.Write(data)
				return
			}
		}
		http.NotFound(w, r)
	})
}

// rewrite returns a parsed copy of f with every tensor passed through edit (nil drops it).
func rewrite(t *testing.T, f *weights.File, edit func(weights.Tensor) *weights.Tensor) *weights.File {
	t.Helper()
	var ts []weights.Tensor
	for _, n := range f.Names() {
		if e := edit(*f.Get(n)); e != nil {
			ts = append(ts, *e)
		}
	}
	var buf bytes.Buffer
	if err := weights.Encode(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	g, err := weights.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func openRef(t *testing.T, name string) *weights.File {
	t.Helper()
	f, err := weights.Open(filepath.Join(testenv.RefData(t), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestHalfPrecisionWeights: F16 and BF16 checkpoints load as the exactly rounded float32 values
// and still run (at a tolerance widened by the weights' own rounding).
func TestHalfPrecisionWeights(t *testing.T) {
	m, _, _ := refSet(t)
	for _, file := range []string{"teacher_tiny_openai.safetensors", "teacher_tiny_hf.safetensors"} {
		src := openRef(t, file)
		base, _, err := FromFile(src, Config{Heads: m.Teacher.Heads})
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range []string{"F16", "BF16"} {
			conv := rewrite(t, src, func(x weights.Tensor) *weights.Tensor {
				v, err := x.Float32()
				if err != nil {
					return &x
				}
				y := weights.F16Tensor(x.Name, x.Shape, v)
				if dt == "BF16" {
					y = weights.BF16Tensor(x.Name, x.Shape, v)
				}
				return &y
			})
			cfg := refFlags(m)
			cfg.Heads = m.Teacher.Heads
			w, full, err := FromFile(conv, cfg)
			if err != nil {
				t.Fatalf("%s %s: %v", file, dt, err)
			}
			round := func(v float32) float32 {
				if dt == "F16" {
					return float16.Fromfloat32(v).Float32()
				}
				b := weights.BF16Tensor("", []int{1}, []float32{v})
				g, _ := b.Float32()
				return g[0]
			}
			for i, v := range base.Blocks[1].InW {
				if w.Blocks[1].InW[i] != round(v) {
					t.Fatalf("%s %s: in_proj_weight[%d] = %g, want %g rounded = %g", file, dt, i, w.Blocks[1].InW[i], v, round(v))
				}
			}
			// Weights rounded to 11 (F16) or 8 (BF16) significant bits move the outputs by
			// about that much relative: 2e-3 and 2e-2 of max|ref|.
			tol := map[string]float64{"F16": 2e-3, "BF16": 2e-2}[dt]
			runRef(t, file+" "+dt, w, full, tol)
		}
	}
}

// TestWeightErrors: each broken checkpoint is rejected with an error naming the tensor.
func TestWeightErrors(t *testing.T) {
	m, _, _ := refSet(t)
	openai := openRef(t, "teacher_tiny_openai.safetensors")
	hf := openRef(t, "teacher_tiny_hf.safetensors")
	drop := func(name string) func(weights.Tensor) *weights.Tensor {
		return func(x weights.Tensor) *weights.Tensor {
			if x.Name == name {
				return nil
			}
			return &x
		}
	}
	reshape := func(name string, shape []int) func(weights.Tensor) *weights.Tensor {
		return func(x weights.Tensor) *weights.Tensor {
			if x.Name == name {
				x.Shape = shape
			}
			return &x
		}
	}
	rename := func(from, to string) func(weights.Tensor) *weights.Tensor {
		return func(x weights.Tensor) *weights.Tensor {
			x.Name = strings.Replace(x.Name, from, to, 1)
			return &x
		}
	}
	W := m.Teacher.Width
	cases := []struct {
		name string
		src  *weights.File
		edit func(weights.Tensor) *weights.Tensor
		cfg  Config
		want string
	}{
		{"missing openai", openai, drop("visual.transformer.resblocks.1.mlp.c_fc.bias"), Config{}, "missing tensor visual.transformer.resblocks.1.mlp.c_fc.bias"},
		{"misshaped openai", openai, reshape("visual.transformer.resblocks.1.ln_2.bias", []int{W / 2, 2}), Config{}, "visual.transformer.resblocks.1.ln_2.bias has shape"},
		{"missing hf k_proj", hf, drop("vision_model.encoder.layers.2.self_attn.k_proj.weight"), Config{}, "missing tensor vision_model.encoder.layers.2.self_attn.k_proj.weight"},
		{"misshaped hf v_proj", hf, reshape("vision_model.encoder.layers.0.self_attn.v_proj.bias", []int{1, W}), Config{}, "vision_model.encoder.layers.0.self_attn.v_proj.bias has shape"},
		{"bare vision model", hf, drop("visual_projection.weight"), Config{}, "bare CLIPVisionModel"},
		{"not clip", openai, rename("class_embedding", "cls_token"), Config{}, "no CLIP vision tower"},
		{"width flag disagrees", openai, nil, Config{Width: W * 2}, "config gives width"},
		{"heads do not divide", openai, nil, Config{Heads: 7}, "not divisible by heads"},
		{"too many return layers", openai, nil, Config{ReturnLayers: 9}, "returned layers"},
		{"bad norm", openai, nil, Config{Norm: "l1"}, `norm "l1"`},
		{"stripped prefix missing proj", openai, func(x weights.Tensor) *weights.Tensor {
			if x.Name == "visual.proj" {
				return nil
			}
			x.Name = strings.TrimPrefix(x.Name, "visual.")
			return &x
		}, Config{}, "missing tensor proj"},
		{"non-square pos", openai, reshape("visual.positional_embedding", []int{(m.Img/m.Patch*m.Img/m.Patch + 1) * W / 16, 16}), Config{}, "positional_embedding"},
	}
	for _, c := range cases {
		f := c.src
		if c.edit != nil {
			f = rewrite(t, c.src, c.edit)
		}
		if c.cfg.Heads == 0 {
			c.cfg.Heads = m.Teacher.Heads
		}
		_, _, err := FromFile(f, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestStrippedAndUMTNaming: the extracted (prefix-free) file and UMT's clip_teacher.* with the
// inflated 5-D conv kernel load to the same weights as visual.*.
func TestStrippedAndUMTNaming(t *testing.T) {
	m, _, _ := refSet(t)
	openai := openRef(t, "teacher_tiny_openai.safetensors")
	cfg := Config{Heads: m.Teacher.Heads}
	base, _, err := FromFile(openai, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stripped := rewrite(t, openai, func(x weights.Tensor) *weights.Tensor {
		x.Name = strings.TrimPrefix(x.Name, "visual.")
		return &x
	})
	umt := rewrite(t, openai, func(x weights.Tensor) *weights.Tensor {
		x.Name = "clip_teacher." + strings.TrimPrefix(x.Name, "visual.")
		if x.Name == "clip_teacher.conv1.weight" {
			x.Shape = []int{x.Shape[0], x.Shape[1], 1, x.Shape[2], x.Shape[3]}
		}
		return &x
	})
	for name, f := range map[string]*weights.File{"stripped": stripped, "clip_teacher": umt} {
		w, _, err := FromFile(f, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(w.Conv, base.Conv) || !slices.Equal(w.Blocks[2].CProjW, base.Blocks[2].CProjW) || !slices.Equal(w.Proj, base.Proj) {
			t.Errorf("%s naming loads different weights", name)
		}
	}
}
