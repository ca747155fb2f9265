package bert

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/weights"
)

// TestLoadUMTCheckpointInfersTheConfig: the reference stage-2 state dict loads through Load as
// a file (text_encoder.* names), its architecture read from the shapes (heads and eps given), and gives
// the reference parameters.
func TestLoadUMTCheckpointInfersTheConfig(t *testing.T) {
	r := loadRef(t)
	l, err := Load(context.Background(), filepath.Join(testenv.RefData(t), refWeights), LoadOptions{Heads: r.cfg.Heads, Eps: r.cfg.Eps})
	if err != nil {
		t.Fatal(err)
	}
	if l.Source != UMT || l.Cfg != r.cfg || len(l.Initialised) != 0 {
		t.Fatalf("loaded %+v (source %v, initialised %v), want %+v from a UMT checkpoint", l.Cfg, l.Source, l.Initialised, r.cfg)
	}
	if !slices.Equal(l.Flat, r.flat) {
		t.Fatal("parameters differ from the reference state dict's")
	}
}

// TestLoadHuggingFaceDirectoryInitialisesCrossAttention: a Hugging Face model directory
// (config.json + model.safetensors with BertForPreTraining names: "bert." on the encoder only
// for some tensors, old LayerNorm gamma/beta, pooler and NSP head, no cross-attention) loads
// with UMT's fusion layer and vision width from the options; every tensor it has is taken as is
// and only the cross-attention blocks are initialised, as _init_weights does (weights N(0, 0.02²),
// biases 0, LayerNorm 1/0), reproducibly from the seed.
func TestLoadHuggingFaceDirectoryInitialisesCrossAttention(t *testing.T) {
	r := loadRef(t)
	dir := t.TempDir()
	var ts []weights.Tensor
	for _, p := range layout(r.cfg) {
		if strings.Contains(p.Name, ".crossattention.") {
			continue
		}
		name := p.Name
		if strings.Contains(name, "layer.0.") {
			name = strings.TrimPrefix(name, "bert.")
		}
		name = strings.Replace(strings.Replace(name, "LayerNorm.weight", "LayerNorm.gamma", 1), "LayerNorm.bias", "LayerNorm.beta", 1)
		ts = append(ts, weights.F32Tensor(name, p.Shape, r.flat[p.Off:p.Off+p.Len]))
	}
	H := r.cfg.Hidden
	ts = append(ts, weights.F32Tensor("bert.pooler.dense.weight", []int{H, H}, make([]float32, H*H)),
		weights.F32Tensor("cls.seq_relationship.weight", []int{2, H}, make([]float32, 2*H)))
	data, err := weights.Marshal(ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON, _ := json.Marshal(map[string]any{"architectures": []string{"BertForMaskedLM"}, "model_type": "bert", "hidden_act": "gelu",
		"hidden_size": H, "num_hidden_layers": r.cfg.Layers, "num_attention_heads": r.cfg.Heads, "intermediate_size": r.cfg.Intermediate,
		"vocab_size": r.cfg.Vocab, "max_position_embeddings": r.cfg.MaxPosition, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
		"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "position_embedding_type": "absolute"})
	for name, b := range map[string][]byte{"model.safetensors": data, "config.json": cfgJSON} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := LoadOptions{FusionLayer: r.cfg.FusionLayer, EncoderWidth: r.cfg.EncoderWidth, Seed: 11}
	l, err := Load(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if l.Source != HF || l.Cfg != r.cfg {
		t.Fatalf("loaded %+v from source %v, want %+v from HF", l.Cfg, l.Source, r.cfg)
	}
	var weightsInit []float64
	for _, p := range layout(r.cfg) {
		got, want := l.Flat[p.Off:p.Off+p.Len], r.flat[p.Off:p.Off+p.Len]
		if !strings.Contains(p.Name, ".crossattention.") {
			if !slices.Equal(got, want) {
				t.Errorf("%s differs from the file's", p.Name)
			}
			if slices.Contains(l.Initialised, p.Name) {
				t.Errorf("%s was loaded but listed as initialised", p.Name)
			}
			continue
		}
		if !slices.Contains(l.Initialised, p.Name) {
			t.Errorf("%s is not listed as initialised", p.Name)
		}
		switch {
		case strings.HasSuffix(p.Name, "LayerNorm.weight"):
			for _, v := range got {
				if v != 1 {
					t.Fatalf("%s: %v, want 1", p.Name, v)
				}
			}
		case len(p.Shape) == 2:
			for _, v := range got {
				weightsInit = append(weightsInit, float64(v))
			}
		default:
			for _, v := range got {
				if v != 0 {
					t.Fatalf("%s: %v, want 0", p.Name, v)
				}
			}
		}
	}
	var s, s2 float64
	for _, v := range weightsInit {
		s, s2 = s+v, s2+v*v
	}
	n := float64(len(weightsInit))
	mean, sd := s/n, math.Sqrt(s2/n-(s/n)*(s/n))
	if math.Abs(mean) > 4*InitStd/math.Sqrt(n) || math.Abs(sd-InitStd) > 0.05*InitStd {
		t.Errorf("cross-attention weights: mean %.3g, std %.4g over %d values; want N(0, %g²)", mean, sd, len(weightsInit), InitStd)
	}
	again, err := Load(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Flat, l.Flat) {
		t.Error("the same seed initialised the cross-attention differently")
	}
}

// TestConfigFromHF reads bert-base-uncased's config.json as UMT's builder completes it and
// refuses options the encoder does not implement.
func TestConfigFromHF(t *testing.T) {
	base := `{"architectures":["BertForMaskedLM"],"attention_probs_dropout_prob":0.1,"gradient_checkpointing":false,"hidden_act":"gelu","hidden_dropout_prob":0.1,"hidden_size":768,"initializer_range":0.02,"intermediate_size":3072,"layer_norm_eps":1e-12,"max_position_embeddings":512,"model_type":"bert","num_attention_heads":12,"num_hidden_layers":12,"pad_token_id":0,"position_embedding_type":"absolute","transformers_version":"4.6.0.dev0","type_vocab_size":2,"use_cache":true,"vocab_size":30522}`
	c, err := ConfigFromHF([]byte(base), 9, 768)
	if err != nil || c != Base {
		t.Fatalf("bert-base-uncased config.json gives %+v (%v), want the bert-base preset %+v", c, err, Base)
	}
	for _, bad := range []struct{ edit, want string }{
		{`"hidden_act":"gelu_new"`, "hidden_act"},
		{`"position_embedding_type":"relative_key"`, "position_embedding_type"},
		{`"model_type":"roberta"`, "model_type"},
	} {
		key := bad.edit[:strings.Index(bad.edit, ":")]
		i := strings.Index(base, key)
		j := i + strings.IndexAny(base[i:], ",}")
		if _, err := ConfigFromHF([]byte(base[:i]+bad.edit+base[j:]), 9, 768); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one naming %s", bad.edit, err, bad.want)
		}
	}
	for _, name := range []string{"bert-base", "bert-large", "tiny"} {
		c, err := Preset(name)
		if err != nil || c.Validate() != nil {
			t.Errorf("preset %s: %v %v", name, err, c.Validate())
		}
	}
	if Large.FusionLayer != 19 || Base.FusionLayer != 9 {
		t.Error("presets lost UMT's fusion layers")
	}
}
