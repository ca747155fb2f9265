package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Stage2Student is the vision encoder of a stage-2 reference set (manifest.json →
// stage2_model_config.student_vit). Parsing rejects an option it does not know.
type Stage2Student struct {
	Dim            int     `json:"encoder_embed_dim=d_model"`
	Depth          int     `json:"depth"`
	Heads          int     `json:"heads"`
	MLPRatio       float64 `json:"mlp_ratio"`
	QKVBias        string  `json:"qkv_bias"`
	Eps            float64 `json:"ln_eps"`
	Tubelet        int     `json:"tubelet"`
	Frames         int     `json:"num_frames"`
	DropPath       float64 `json:"drop_path_rate"`
	DecoderDim     int     `json:"clip_decoder_embed_dim"`
	ClipDim        int     `json:"clip_output_dim"`
	ReturnLayers   int     `json:"clip_return_layer"`
	ReturnInterval float64 `json:"clip_student_return_interval"`
	ReturnIndex    []int   `json:"return_index(ascending)"`
}

// Stage2Media is one batch kind's input (stage2_model_config.video / .image): the image entry
// omits the sizes the video entry gives.
type Stage2Media struct {
	B             int    `json:"B"`
	T             int    `json:"T"`
	Img           int    `json:"img"`
	Patch         int    `json:"patch"`
	HW            int    `json:"HW"`
	Mask          string `json:"mask"`
	NVisPerFrame  int    `json:"N_vis_per_frame"`
	NVis          int    `json:"N_vis"`
	MaskRatio     float64
	AttentionMask bool // the mask type is "attention" (semantic)
}

// Stage2Vision is the vision side of a stage-2 reference set.
type Stage2Vision struct {
	Student Stage2Student
	Media   map[string]Stage2Media // "video", "image"
}

// ParseStage2Vision reads stage2_model_config's student_vit, video and image entries.
func ParseStage2Vision(data []byte) (Stage2Vision, error) {
	var top struct {
		Config map[string]json.RawMessage `json:"stage2_model_config"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return Stage2Vision{}, fmt.Errorf("manifest.json: %w", err)
	}
	strict := func(key string, v any) error {
		dec := json.NewDecoder(bytes.NewReader(top.Config[key]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("manifest.json stage2_model_config.%s: %w (the stage-2 tests read every option; teach internal/testenv the new one and the models its meaning)", key, err)
		}
		return nil
	}
	if _, ok := top.Config["student_vit"]; !ok {
		return Stage2Vision{}, fmt.Errorf("manifest.json has no stage2_model_config.student_vit")
	}
	v := Stage2Vision{Media: map[string]Stage2Media{}}
	if err := strict("student_vit", &v.Student); err != nil {
		return Stage2Vision{}, err
	}
	for _, k := range []string{"video", "image"} {
		if _, ok := top.Config[k]; !ok {
			continue
		}
		var m Stage2Media
		if err := strict(k, &m); err != nil {
			return Stage2Vision{}, err
		}
		// "attention, ratio 0.8"
		kind, ratio, ok := strings.Cut(m.Mask, ", ratio ")
		r, err := strconv.ParseFloat(ratio, 64)
		if !ok || err != nil {
			return Stage2Vision{}, fmt.Errorf("manifest.json stage2_model_config.%s.mask %q: want \"<type>, ratio <r>\"", k, m.Mask)
		}
		m.MaskRatio, m.AttentionMask = r, kind == "attention"
		v.Media[k] = m
	}
	return v, nil
}

// RefStage2Vision reads the vision side of the reference set's stage-2 configuration, failing
// the test with the reason when it cannot.
func RefStage2Vision(tb testing.TB) Stage2Vision {
	tb.Helper()
	dir := RefData(tb)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	v, err := ParseStage2Vision(data)
	if err != nil {
		tb.Fatalf("%s: %v", dir, err)
	}
	return v
}
