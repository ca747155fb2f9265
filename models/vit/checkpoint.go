package vit

import (
	"encoding/json"
	"fmt"

	"github.com/umt-dev/umt/models/weights"
)

// Checkpoint is a stage-1 student read from a training checkpoint (umt train stage1): its
// architecture from state.json's "model" and its parameters in the vit layout.
type Checkpoint struct {
	weights.CheckpointInfo
	Cfg    Config
	Params []float32
}

// LoadCheckpoint reads a stage-1 checkpoint root (following `latest`) or step directory after
// verifying its files.
func LoadCheckpoint(path string) (Checkpoint, error) {
	ck, err := weights.OpenCheckpoint(path)
	if err != nil {
		return Checkpoint{}, err
	}
	defer ck.Close()
	var st struct {
		Model *Config `json:"model"`
	}
	if err := json.Unmarshal(ck.State, &st); err != nil || st.Model == nil {
		return Checkpoint{}, fmt.Errorf("vit: %s/%s has no student config under \"model\" (%v)", ck.Dir, weights.CheckpointState, err)
	}
	if err := st.Model.Validate(); err != nil {
		return Checkpoint{}, fmt.Errorf("vit: %s/%s: %w; is it a stage-1 (umt train stage1) checkpoint?", ck.Dir, weights.CheckpointState, err)
	}
	p, err := ParamsFromState(*st.Model, ck.Model.Tensors)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("vit: %s: %w", ck.Dir, err)
	}
	return Checkpoint{CheckpointInfo: ck.CheckpointInfo, Cfg: *st.Model, Params: p}, nil
}
