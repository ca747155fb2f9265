package multimodal

import (
	"encoding/json"
	"fmt"

	"github.com/umt-dev/umt/models/weights"
)

// Checkpoint is a stage-2 model read from a training checkpoint (umt train stage2): its
// configuration from state.json's "model" and its parameters from model.safetensors.
type Checkpoint struct {
	weights.CheckpointInfo
	Step int
	Cfg  Config
	Flat Flat
}

// LoadCheckpoint reads a stage-2 checkpoint root (following `latest`) or step directory after
// verifying its files. When the tensors do not fit the config, the error comes with Dir, Step
// and Cfg filled in, so a caller can say which setting differs.
func LoadCheckpoint(path string) (Checkpoint, error) {
	ck, err := weights.OpenCheckpoint(path)
	if err != nil {
		return Checkpoint{}, err
	}
	defer ck.Close()
	var st struct {
		Step  int     `json:"step"`
		Model *Config `json:"model"`
	}
	if err := json.Unmarshal(ck.State, &st); err != nil || st.Model == nil {
		return Checkpoint{}, fmt.Errorf("multimodal: %s/%s has no stage-2 config under \"model\"; is it a stage-2 checkpoint? (%v)", ck.Dir, weights.CheckpointState, err)
	}
	c := Checkpoint{CheckpointInfo: ck.CheckpointInfo, Step: st.Step, Cfg: *st.Model}
	if c.Flat, err = FromState(c.Cfg, ck.Model.Tensors); err != nil {
		return c, fmt.Errorf("%s: %w", ck.Dir, err)
	}
	return c, nil
}
