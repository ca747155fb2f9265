package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Stage1 is the stage-1 configuration of a reference set (manifest.json → config_stage1 and
// derived), every option the official run was given. Parsing rejects an option it does not
// know, so a parity test either uses each option of the set or fails saying which one it
// cannot read; it never silently tests another configuration than the set's.
type Stage1 struct {
	Seed      int64   `json:"seed"`
	B         int     `json:"B"`     // clips
	T         int     `json:"T"`     // frames per clip
	Img       int     `json:"img"`   // frame side, the student's img_size and the teacher's input_resolution
	Patch     int     `json:"patch"` // patch side of both models
	MaskRatio float64 `json:"mask_ratio"`
	LossType  string  `json:"clip_loss_type"`  // l2 | mse | smooth_l1
	LossRatio float64 `json:"clip_loss_ratio"` // loss = ratio · loss_clip
	ViTB      bool    `json:"vitb"`            // whether the set also holds ViT-B/16 files
	Teacher   struct {
		Width          int     `json:"width"`
		Layers         int     `json:"layers"`
		Heads          int     `json:"heads"`
		OutputDim      int     `json:"output_dim"`
		ReturnLayers   int     `json:"clip_return_layer"`
		ReturnInterval float64 `json:"clip_return_interval"`
	} `json:"teacher"`
	Student struct {
		Dim            int     `json:"embed_dim"`
		Depth          int     `json:"depth"`
		Heads          int     `json:"heads"`
		Tubelet        int     `json:"tubelet_size"`
		ReturnLayers   int     `json:"clip_return_layer"`
		ReturnInterval float64 `json:"clip_student_return_interval"`
		// Options the public set leaves at the values its README states; a set may give them.
		MLPRatio *float64 `json:"mlp_ratio"`      // 4
		DropPath *float64 `json:"drop_path_rate"` // 0
	} `json:"student"`

	Derived struct {
		NVisPerFrame  int     `json:"N_vis_per_frame"`
		TeacherReturn []int   `json:"teacher_return_index_ascending"`
		StudentReturn []int   `json:"student_return_index_ascending"`
		Loss          float64 `json:"loss"`
	} `json:"-"`
}

// MLPRatio is the student's MLP ratio (4 unless the set says otherwise).
func (s Stage1) MLPRatio() float64 {
	if s.Student.MLPRatio == nil {
		return 4
	}
	return *s.Student.MLPRatio
}

// DropPath is the student's drop_path_rate (0 unless the set says otherwise).
func (s Stage1) DropPath() float64 {
	if s.Student.DropPath == nil {
		return 0
	}
	return *s.Student.DropPath
}

// Supported reports why this project's stage-1 code cannot reproduce a set, or nil. These are
// options of the official code that the project does not offer (its loss is UMT's l2 alignment
// loss with weight 1 and an integer MLP ratio, teacher and student return as many layers) and a
// positive drop-path rate, whose outputs depend on torch's per-sample draws, which a set does
// not store.
func (s Stage1) Supported() error {
	switch mr := s.MLPRatio(); {
	case s.DropPath() != 0:
		return fmt.Errorf("reference set: student drop_path_rate %v: the official outputs depend on torch's drop-path draws, which the set does not store; regenerate it with drop_path_rate 0", s.DropPath())
	case s.LossType != "l2":
		return fmt.Errorf("reference set: clip_loss_type %q: the student's loss is UMT's l2 alignment loss (2 - 2 cos) only", s.LossType)
	case s.LossRatio != 1:
		return fmt.Errorf("reference set: clip_loss_ratio %v: the stage-1 loss has weight 1 (the recipe's)", s.LossRatio)
	case mr <= 0 || mr != float64(int(mr)):
		return fmt.Errorf("reference set: mlp_ratio %v: the student's MLP width is embed_dim·mlp_ratio with an integer ratio", mr)
	case s.Teacher.ReturnLayers != s.Student.ReturnLayers:
		return fmt.Errorf("reference set: the teacher returns %d layers, the student %d; UMT aligns them one to one", s.Teacher.ReturnLayers, s.Student.ReturnLayers)
	}
	return nil
}

// ParseStage1 reads the stage-1 part of a manifest.json.
func ParseStage1(data []byte) (Stage1, error) {
	var top struct {
		Config  json.RawMessage `json:"config_stage1"`
		Derived json.RawMessage `json:"derived"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return Stage1{}, fmt.Errorf("manifest.json: %w", err)
	}
	if len(top.Config) == 0 {
		return Stage1{}, fmt.Errorf("manifest.json has no config_stage1")
	}
	var s Stage1
	dec := json.NewDecoder(bytes.NewReader(top.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Stage1{}, fmt.Errorf("manifest.json config_stage1: %w (the parity tests read every stage-1 option; teach internal/testenv the new one and the models its meaning)", err)
	}
	if len(top.Derived) > 0 {
		if err := json.Unmarshal(top.Derived, &s.Derived); err != nil {
			return Stage1{}, fmt.Errorf("manifest.json derived: %w", err)
		}
	}
	if s.B <= 0 || s.T <= 0 || s.Img <= 0 || s.Patch <= 0 {
		return Stage1{}, fmt.Errorf("manifest.json config_stage1: B %d, T %d, img %d, patch %d must be positive", s.B, s.T, s.Img, s.Patch)
	}
	if s.Img%s.Patch != 0 {
		return Stage1{}, fmt.Errorf("manifest.json config_stage1: img %d is not a multiple of patch %d", s.Img, s.Patch)
	}
	if d := s.Derived.TeacherReturn; d != nil && len(d) != s.Teacher.ReturnLayers {
		return Stage1{}, fmt.Errorf("manifest.json: derived teacher blocks %v but clip_return_layer %d", d, s.Teacher.ReturnLayers)
	}
	if d := s.Derived.StudentReturn; d != nil && len(d) != s.Student.ReturnLayers {
		return Stage1{}, fmt.Errorf("manifest.json: derived student blocks %v but clip_return_layer %d", d, s.Student.ReturnLayers)
	}
	if !slices.IsSorted(s.Derived.TeacherReturn) || !slices.IsSorted(s.Derived.StudentReturn) {
		return Stage1{}, fmt.Errorf("manifest.json: derived return indices %v / %v are not ascending", s.Derived.TeacherReturn, s.Derived.StudentReturn)
	}
	return s, nil
}

// HW is the number of patches per frame.
func (s Stage1) HW() int { return (s.Img / s.Patch) * (s.Img / s.Patch) }

// RefStage1 reads the stage-1 configuration of the reference set (RefData), failing the test
// with the reason when it cannot.
func RefStage1(tb testing.TB) Stage1 {
	tb.Helper()
	dir := RefData(tb)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ParseStage1(data)
	if err != nil {
		tb.Fatalf("%s: %v", dir, err)
	}
	return s
}

// WriteStage1Manifest writes dir/manifest.json holding s (config_stage1 and derived), for
// tests that build a reference set with other options; extra adds or replaces config_stage1
// keys (e.g. an option the parity tests do not know).
func WriteStage1Manifest(dir string, s Stage1, extra map[string]any) error {
	cfg, err := json.Marshal(s)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		return err
	}
	if s.Student.MLPRatio == nil {
		delete(m["student"].(map[string]any), "mlp_ratio")
	}
	if s.Student.DropPath == nil {
		delete(m["student"].(map[string]any), "drop_path_rate")
	}
	for k, v := range extra {
		m[k] = v
	}
	d := map[string]any{
		"N_vis_per_frame": s.Derived.NVisPerFrame, "loss": s.Derived.Loss,
		"teacher_return_index_ascending": s.Derived.TeacherReturn,
		"student_return_index_ascending": s.Derived.StudentReturn,
	}
	data, err := json.MarshalIndent(map[string]any{"config_stage1": m, "derived": d}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644)
}

// RunParity runs the tests matching pattern of the current test binary in a child process
// against the reference set in dir (UMT_REFDATA=dir) and checks how they end: with wantErr
// empty every matching test must pass and none may skip; otherwise the run must fail with
// wantErr in its output. A panic or a skip fails the check either way: a parity test meeting a
// set it cannot handle must say why.
func RunParity(tb testing.TB, dir, pattern, wantErr string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "UMT_REFDATA="+dir)
	out, err := cmd.CombinedOutput()
	text := string(out)
	show := text
	if len(show) > 4000 {
		show = "…" + show[len(show)-4000:]
	}
	switch {
	case strings.Contains(text, "panic:"):
		tb.Fatalf("%s on %s panicked:\n%s", pattern, dir, show)
	case strings.Contains(text, "--- SKIP"):
		tb.Fatalf("%s on %s skipped:\n%s", pattern, dir, show)
	case !strings.Contains(text, "=== RUN"):
		tb.Fatalf("%s matched no test:\n%s", pattern, show)
	case wantErr == "" && err != nil:
		tb.Fatalf("%s on a valid set %s failed (%v):\n%s", pattern, dir, err, show)
	case wantErr != "" && err == nil:
		tb.Fatalf("%s on %s passed, want a failure saying %q:\n%s", pattern, dir, wantErr, show)
	case wantErr != "" && !strings.Contains(text, wantErr):
		tb.Fatalf("%s on %s failed without saying %q:\n%s", pattern, dir, wantErr, show)
	}
}
