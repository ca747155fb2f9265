package ckpt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/training/loader"
	"github.com/umt-dev/umt/transforms/storage"
)

// Version is the state.json format version.
const Version = 1

// State is state.json.
type State struct {
	Version int               `json:"version"`
	Step    int               `json:"step"` // optimiser steps completed
	Loader  loader.Position   `json:"loader"`
	Model   vit.Config        `json:"model"`
	Run     json.RawMessage   `json:"run,omitempty"` // the training config, verbatim
	Loss    float64           `json:"loss"`          // loss of the last step
	Files   map[string]string `json:"files"`         // file name → sha256
}

// Checkpoint is a loaded checkpoint.
type Checkpoint struct {
	Dir     string
	State   State
	Weights []float32 // flat, vit layout order
	M, V    []float32 // AdamW moments, same layout
}

const (
	modelFile = weights.CheckpointModel
	optimFile = "optim.safetensors"
	stateFile = weights.CheckpointState
	latest    = weights.CheckpointLatest
)

// ParseState decodes and validates state.json.
func ParseState(b []byte) (State, error) {
	var s State
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("ckpt: state.json: %w", err)
	}
	if s.Version != Version {
		return s, fmt.Errorf("ckpt: state.json version %d, this umt reads %d", s.Version, Version)
	}
	if s.Step < 0 || s.Loader.Epoch < 0 || s.Loader.Offset < 0 {
		return s, fmt.Errorf("ckpt: state.json has negative step or position")
	}
	if err := s.Model.Validate(); err != nil {
		return s, fmt.Errorf("ckpt: state.json model: %w", err)
	}
	for _, f := range []string{modelFile, optimFile} {
		if len(s.Files[f]) != 64 {
			return s, fmt.Errorf("ckpt: state.json has no sha256 for %s", f)
		}
	}
	return s, nil
}

// Save writes a checkpoint of step st.Step under root and points `latest` at it.
func Save(root string, st State, params, m, v []float32) (string, error) {
	c := st.Model
	if len(params) != c.Params() || len(m) != c.Params() || len(v) != c.Params() {
		return "", fmt.Errorf("ckpt: %d/%d/%d values for a model of %d parameters", len(params), len(m), len(v), c.Params())
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	name := fmt.Sprintf("step-%08d", st.Step)
	tmp, err := os.MkdirTemp(root, ".tmp-"+name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	model, err := vit.EncodeState(c, params, map[string]string{"format": "pt", "umt": "stage1 student"})
	if err != nil {
		return "", err
	}
	if err := storage.WriteFile(ctx, filepath.Join(tmp, modelFile), model); err != nil {
		return "", err
	}
	msd, _ := vit.StateFromParams(c, m)
	vsd, _ := vit.StateFromParams(c, v)
	var opt []weights.Tensor
	for _, t := range msd {
		t.Name = "exp_avg." + t.Name
		opt = append(opt, t)
	}
	for _, t := range vsd {
		t.Name = "exp_avg_sq." + t.Name
		opt = append(opt, t)
	}
	optim, err := weights.Marshal(opt, map[string]string{"step": fmt.Sprint(st.Step)})
	if err != nil {
		return "", err
	}
	if err := storage.WriteFile(ctx, filepath.Join(tmp, optimFile), optim); err != nil {
		return "", err
	}
	st.Version = Version
	st.Files = map[string]string{}
	for _, f := range []string{modelFile, optimFile} {
		h, err := hashFile(filepath.Join(tmp, f))
		if err != nil {
			return "", err
		}
		st.Files[f] = h
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", err
	}
	if err := storage.WriteFile(ctx, filepath.Join(tmp, stateFile), append(js, '\n')); err != nil {
		return "", err
	}
	dst := filepath.Join(root, name)
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	if err := storage.WriteFile(ctx, filepath.Join(root, latest), []byte(name+"\n")); err != nil {
		return "", err
	}
	return dst, nil
}

// Load reads the checkpoint at path (a root or a step directory) and verifies its files: the
// student through vit.LoadCheckpoint, then the training state and the AdamW moments.
func Load(path string) (*Checkpoint, error) {
	vc, err := vit.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	st, err := ParseState(vc.State)
	if err != nil {
		return nil, err
	}
	of, err := weights.Open(filepath.Join(vc.Dir, optimFile))
	if err != nil {
		return nil, err
	}
	defer of.Close()
	split := func(prefix string) map[string]*weights.Tensor {
		out := map[string]*weights.Tensor{}
		for n, t := range of.Tensors {
			if rest, ok := strings.CutPrefix(n, prefix); ok {
				out[rest] = t
			}
		}
		return out
	}
	m, err1 := vit.ParamsFromState(st.Model, split("exp_avg."))
	v, err2 := vit.ParamsFromState(st.Model, split("exp_avg_sq."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("ckpt: optimizer state: %w", err)
	}
	return &Checkpoint{Dir: vc.Dir, State: st, Weights: vc.Params, M: m, V: v}, nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
