package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeCheckpoint writes a root with one step directory holding model.safetensors and a
// state.json that lists files (name → sha256; "" means the real sum of the file).
func writeCheckpoint(t *testing.T, files map[string]string) (root, step string) {
	t.Helper()
	root = t.TempDir()
	step = filepath.Join(root, "step-00000001")
	if err := os.MkdirAll(step, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := Marshal([]Tensor{F32Tensor("w", []int{2}, []float32{1, 2})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(step, CheckpointModel), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for k, v := range files {
		if v == "" {
			files[k] = hex.EncodeToString(sum[:])
		}
	}
	js, _ := json.Marshal(map[string]any{"step": 1, "files": files})
	if err := os.WriteFile(filepath.Join(step, CheckpointState), js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, CheckpointLatest), []byte("step-00000001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, step
}

// TestOpenCheckpointVerifiesFiles: a root resolves through latest to a step whose model opens;
// a sum that differs, a missing model sum, or a listed name outside the directory is refused.
func TestOpenCheckpointVerifiesFiles(t *testing.T) {
	root, step := writeCheckpoint(t, map[string]string{CheckpointModel: ""})
	ck, err := OpenCheckpoint(root)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Dir != step || ck.Model.Get("w") == nil || len(ck.ModelSHA256) != 64 {
		t.Errorf("opened %s with model %v, sum %q; want %s", ck.Dir, ck.Model.Names(), ck.ModelSHA256, step)
	}
	ck.Close()
	for _, c := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"damaged", map[string]string{CheckpointModel: strings.Repeat("0", 64)}, "damaged"},
		{"no model sum", map[string]string{"optim.safetensors": ""}, "no sha256"},
		{"escaping name", map[string]string{CheckpointModel: "", "../x": ""}, "not a file"},
	} {
		root, _ := writeCheckpoint(t, c.files)
		if _, err := OpenCheckpoint(root); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if _, err := OpenCheckpoint(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("empty directory: %v", err)
	}
}
