package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// TestInspectTextWeightsGivesPooledText: inspect text --weights on the stage-2 reference
// checkpoint and vocab, given the reference batch's raw captions, prints as each caption's
// [CLS] state the reference text.pooled_text (pre_text, tokenization at max_txt_l and text mode
// chained exactly as UMT does), within the activation tolerance 1e-4·max|ref|.
func TestInspectTextWeightsGivesPooledText(t *testing.T) {
	ref := testenv.RefData(t)
	s := testenv.RefStage2(t)
	var side struct {
		Captions []struct {
			Raw string `json:"raw"`
		} `json:"captions"`
	}
	data, err := os.ReadFile(filepath.Join(ref, "stage2_tiny_video_io.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &side); err != nil {
		t.Fatal(err)
	}
	io, err := weightstest.Read(filepath.Join(ref, "stage2_tiny_video_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	pooled, ok := io["text.pooled_text"]
	if !ok || len(pooled.Shape) != 2 || pooled.Shape[0] != len(side.Captions) || pooled.Shape[1] != s.BERT.Hidden {
		t.Fatalf("text.pooled_text missing or of shape %v for %d captions of width %d", pooled.Shape, len(side.Captions), s.BERT.Hidden)
	}
	args := []string{"inspect", "text", "--weights", filepath.Join(ref, "stage2_tiny_weights.safetensors"),
		"--heads", strconv.Itoa(s.BERT.Heads), "--tokenizer", filepath.Join(ref, "bert-base-uncased"),
		"--max-text-len", strconv.Itoa(s.MaxTxtL), "--json"}
	for _, c := range side.Captions {
		args = append(args, c.Raw)
	}
	code, out := capture(t, args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var got struct {
		Encoder struct {
			Source string `json:"source"`
		} `json:"text_encoder"`
		Captions []struct {
			CLS *struct {
				Norm   float64   `json:"norm"`
				Values []float32 `json:"values"`
			} `json:"cls"`
		} `json:"captions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Encoder.Source != "UMT stage-2 checkpoint" || len(got.Captions) != len(side.Captions) {
		t.Fatalf("encoder %q, %d captions; want the UMT checkpoint and %d", got.Encoder.Source, len(got.Captions), len(side.Captions))
	}
	H := s.BERT.Hidden
	var maxRef, maxAbs float64
	for i, c := range got.Captions {
		if c.CLS == nil || len(c.CLS.Values) != H {
			t.Fatalf("caption %d has no [CLS] state of width %d", i, H)
		}
		var n2 float64
		for h, v := range c.CLS.Values {
			w := float64(pooled.F32[i*H+h])
			maxRef, maxAbs = math.Max(maxRef, math.Abs(w)), math.Max(maxAbs, math.Abs(float64(v)-w))
			n2 += float64(v) * float64(v)
		}
		if math.Abs(math.Sqrt(n2)-c.CLS.Norm) > 1e-3 {
			t.Errorf("caption %d: norm %v, values give %v", i, c.CLS.Norm, math.Sqrt(n2))
		}
	}
	if maxAbs > 1e-4*maxRef {
		t.Fatalf("[CLS] states differ from text.pooled_text by %.3g (max|ref| %.3g)", maxAbs, maxRef)
	}
	t.Logf("[CLS] vs text.pooled_text: max|d|/max|ref| = %.3g", maxAbs/maxRef)

	code, out = capture(t, append(args[:len(args)-len(side.Captions)-1], side.Captions[0].Raw)...)
	if code != 0 || !strings.Contains(out, "cls: norm ") || !strings.Contains(out, "text encoder ") {
		t.Fatalf("table output (exit %d) lacks the encoder header or the cls line:\n%s", code, out)
	}
}

// TestInspectTextWeightsRefusesLongerThanPositions: a --max-text-len beyond the encoder's
// position table fails before any caption runs and names the value that works.
func TestInspectTextWeightsRefusesLongerThanPositions(t *testing.T) {
	ref := testenv.RefData(t)
	s := testenv.RefStage2(t)
	var code int
	var out string
	msg := captureStderr(t, func() {
		code, out = capture(t, "inspect", "text", "--weights", filepath.Join(ref, "stage2_tiny_weights.safetensors"),
			"--heads", strconv.Itoa(s.BERT.Heads), "--tokenizer", filepath.Join(ref, "bert-base-uncased"),
			"--max-text-len", strconv.Itoa(s.BERT.MaxPosition+1), "a caption")
	})
	if code == 0 {
		t.Fatalf("exit 0 with --max-text-len past max_position_embeddings:\n%s", out)
	}
	if want := "--max-text-len " + strconv.Itoa(s.BERT.MaxPosition); !strings.Contains(msg, want) {
		t.Fatalf("error does not name %q:\n%s", want, msg)
	}
}
