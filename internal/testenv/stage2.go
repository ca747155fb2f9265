package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Stage2BERT is the text/fusion encoder of a stage-2 reference set (manifest.json →
// stage2_model_config.bert). Parsing rejects an option it does not know.
type Stage2BERT struct {
	Hidden        int     `json:"hidden"`
	Layers        int     `json:"layers"`
	Heads         int     `json:"heads"`
	Intermediate  int     `json:"intermediate"`
	FusionLayer   int     `json:"fusion_layer"`
	Vocab         int     `json:"vocab"`
	MaxPosition   int     `json:"max_position_embeddings"`
	Eps           float64 `json:"layer_norm_eps"`
	HiddenAct     string  `json:"hidden_act"`
	Dropout       float64 `json:"dropout"`
	EncoderWidth  int     `json:"encoder_width"`
	GradCkpt      bool    `json:"gradient_checkpointing"`
	TextLayers    []int   `json:"text_layers"`
	FusionLayers  []int   `json:"fusion_layers(with cross-attention)"`
	TypeVocabSize *int    `json:"type_vocab_size"` // 2 unless the set says otherwise
}

// Stage2 is the part of a stage-2 reference set's configuration the model tests read
// (manifest.json → stage2_model_config): the BERT, the contrastive head width, the temperature
// and the loss options. Batches lists the batch kinds ("video", "image") the config describes;
// their files are stage2_tiny_<kind>_io.{safetensors,json}.
type Stage2 struct {
	BERT      Stage2BERT
	EmbedDim  int
	TempInit  float64
	MaxTxtL   int
	Criterion struct {
		LossWeight     map[string]float64 `json:"loss_weight"`
		VTMHardNeg     bool               `json:"vtm_hard_neg"`
		MLMMaskingProb float64            `json:"mlm_masking_prob"`
		UTANormType    string             `json:"uta_norm_type"`
		UTALossType    string             `json:"uta_loss_type"`
	}
	FP16    bool
	DType   string
	Batches []string
}

// ParseStage2 reads stage2_model_config of a manifest.json.
func ParseStage2(data []byte) (Stage2, error) {
	var top struct {
		Config map[string]json.RawMessage `json:"stage2_model_config"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return Stage2{}, fmt.Errorf("manifest.json: %w", err)
	}
	if top.Config == nil {
		return Stage2{}, fmt.Errorf("manifest.json has no stage2_model_config")
	}
	var s Stage2
	strict := func(key string, v any) error {
		raw, ok := top.Config[key]
		if !ok {
			return fmt.Errorf("manifest.json stage2_model_config has no %q", key)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("manifest.json stage2_model_config.%s: %w (the stage-2 tests read every option; teach internal/testenv the new one and the models its meaning)", key, err)
		}
		return nil
	}
	for key, v := range map[string]any{"bert": &s.BERT, "embed_dim": &s.EmbedDim, "temp_init": &s.TempInit, "max_txt_l": &s.MaxTxtL,
		"criterion": &s.Criterion, "fp16": &s.FP16, "dtype": &s.DType} {
		if err := strict(key, v); err != nil {
			return Stage2{}, err
		}
	}
	for _, k := range []string{"video", "image"} {
		if _, ok := top.Config[k]; ok {
			s.Batches = append(s.Batches, k)
		}
	}
	return s, nil
}

// RefStage2 reads the stage-2 configuration of the reference set (RefData), failing the test
// with the reason when it cannot.
func RefStage2(tb testing.TB) Stage2 {
	tb.Helper()
	dir := RefData(tb)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ParseStage2(data)
	if err != nil {
		tb.Fatalf("%s: %v", dir, err)
	}
	return s
}
