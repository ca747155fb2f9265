package weights

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File names of a training checkpoint as umt train stage1 and stage2 write it: a root holds
// step directories and `latest` naming the newest; a step directory holds model.safetensors
// (the official state dict), other tensor files, and state.json, written last, with every
// file's sha256 under "files".
const (
	CheckpointModel  = "model.safetensors"
	CheckpointState  = "state.json"
	CheckpointLatest = "latest"
)

// ResolveCheckpoint turns a checkpoint root (with a `latest` file) or a step directory into the
// step directory.
func ResolveCheckpoint(path string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(path, CheckpointLatest)); err == nil {
		name := strings.TrimSpace(string(b))
		if name == "" || strings.ContainsAny(name, `/\`) || name == ".." {
			return "", fmt.Errorf("checkpoint: %s/latest names %q, not a checkpoint directory", path, name)
		}
		return filepath.Join(path, name), nil
	}
	if _, err := os.Stat(filepath.Join(path, CheckpointState)); err != nil {
		return "", fmt.Errorf("checkpoint: %s is neither a checkpoint root (no latest file) nor a checkpoint (no state.json)", path)
	}
	return path, nil
}

// CheckpointInfo is what every checkpoint reader returns beside the parameters.
type CheckpointInfo struct {
	Dir         string // the step directory
	State       []byte // state.json verbatim: each trainer decodes its own fields
	ModelSHA256 string // of model.safetensors, verified
}

// Checkpoint is an opened checkpoint step directory whose files matched state.json's sums.
type Checkpoint struct {
	CheckpointInfo
	Model *File // model.safetensors, mapped until Close
}

// OpenCheckpoint resolves path (a root or a step directory), verifies every file state.json
// lists against its sha256 and opens model.safetensors.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	dir, err := ResolveCheckpoint(path)
	if err != nil {
		return nil, err
	}
	js, err := os.ReadFile(filepath.Join(dir, CheckpointState))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s is not a checkpoint: %w", dir, err)
	}
	var st struct {
		Files map[string]string `json:"files"`
	}
	if err := json.Unmarshal(js, &st); err != nil {
		return nil, fmt.Errorf("checkpoint: %s/%s: %w", dir, CheckpointState, err)
	}
	if len(st.Files[CheckpointModel]) != 64 {
		return nil, fmt.Errorf("checkpoint: %s/%s has no sha256 for %s", dir, CheckpointState, CheckpointModel)
	}
	for name, want := range st.Files {
		if name != filepath.Base(name) || name == ".." {
			return nil, fmt.Errorf("checkpoint: %s/%s lists %q, not a file of the directory", dir, CheckpointState, name)
		}
		got, err := fileSum(filepath.Join(dir, name), "sha256", 0)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if got != want {
			return nil, fmt.Errorf("checkpoint: %s/%s has sha256 %s, state.json says %s; the checkpoint is damaged, use an earlier one", dir, name, got, want)
		}
	}
	f, err := Open(filepath.Join(dir, CheckpointModel))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Checkpoint{CheckpointInfo{Dir: dir, State: js, ModelSHA256: st.Files[CheckpointModel]}, f}, nil
}

// Close unmaps the model file.
func (c *Checkpoint) Close() error { return c.Model.Close() }
