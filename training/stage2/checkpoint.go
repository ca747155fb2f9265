package stage2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/training/optim"
	"github.com/umt-dev/umt/transforms/storage"
)

// State is a stage-2 checkpoint's state.json: what the tensor files do not hold. It is
// written last, so a directory without it (or with other checksums) is not a checkpoint.
type State struct {
	Version int                `json:"version"`
	Step    int                `json:"step"`
	Seed    uint64             `json:"seed"`
	BaseLR  float64            `json:"base_lr"`
	Ranks   int                `json:"ranks,omitempty"` // VTM's groups (absent before it existed: 1)
	Sched   optim.WarmupCosine `json:"schedule"`
	Model   multimodal.Config  `json:"model"`
	Files   map[string]string  `json:"files"` // name → sha256
	Extra   map[string]string  `json:"extra,omitempty"`
}

const (
	ckptModel = weights.CheckpointModel // the official multi_modality state dict
	ckptOptim = "optim.safetensors"     // exp_avg.<name>, exp_avg_sq.<name>
	ckptState = weights.CheckpointState
)

// named lists the optimiser's parts with the official names of their tensors.
func (t *Trainer) named() [][]nameSpan {
	m := t.Model
	var v, x, h []nameSpan
	for _, p := range m.Vision.Params() {
		v = append(v, nameSpan{multimodal.VisionPrefix + p.Name, p.Shape, p.Off, p.Len})
	}
	for _, p := range m.Text.Params() {
		x = append(x, nameSpan{bert.UMTPrefix + p.Name, p.Shape, p.Off, p.Len})
	}
	for _, p := range m.HeadParamList() {
		h = append(h, nameSpan{p.Name, p.Shape, p.Off, p.Len})
	}
	return [][]nameSpan{v, x, h}
}

type nameSpan struct {
	name     string
	shape    []int
	off, len int
}

// Save writes the model (official state dict), the AdamW moments and the state to dir; a
// trainer resumed from it continues bit for bit as this one would.
func (t *Trainer) Save(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m := t.Model
	var f multimodal.Flat
	var err error
	if f.Vision, err = m.Vision.Download(); err != nil {
		return err
	}
	if f.Text, err = m.Text.Download(); err != nil {
		return err
	}
	f.Heads = make([]float32, m.HeadWeights().Len())
	if err := m.Vision.Backend().Download(f.Heads, m.HeadWeights()); err != nil {
		return err
	}
	model, err := multimodal.EncodeState(m.Cfg, f, nil)
	if err != nil {
		return err
	}
	var moments []weights.Tensor
	for i, ps := range t.named() {
		mo, vo, err := t.Opt.parts[i].opt.Moments()
		if err != nil {
			return err
		}
		for _, p := range ps {
			moments = append(moments, weights.F32Tensor("exp_avg."+p.name, slices.Clone(p.shape), mo[p.off:p.off+p.len]),
				weights.F32Tensor("exp_avg_sq."+p.name, slices.Clone(p.shape), vo[p.off:p.off+p.len]))
		}
	}
	opt, err := weights.Marshal(moments, nil)
	if err != nil {
		return err
	}
	st := State{Version: 1, Step: t.Step, Seed: t.Seed, BaseLR: t.BaseLR, Ranks: t.Ranks, Sched: t.Sched, Model: m.Cfg, Files: map[string]string{}}
	for name, data := range map[string][]byte{ckptModel: model, ckptOptim: opt} {
		if err := storage.WriteFile(ctx, filepath.Join(dir, name), data); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		st.Files[name] = hex.EncodeToString(sum[:])
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return storage.WriteFile(ctx, filepath.Join(dir, ckptState), js)
}

// Resume rebuilds a trainer (model, moments, step, schedule) on be from a directory Save
// wrote, after checking the files' checksums.
func Resume(dir string, be kernels.Trainer) (*Trainer, error) {
	mc, err := multimodal.LoadCheckpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("stage2: %w", err)
	}
	var st State
	if err := json.Unmarshal(mc.State, &st); err != nil {
		return nil, fmt.Errorf("stage2: %s/%s: %w", mc.Dir, ckptState, err)
	}
	if st.Files[ckptOptim] == "" {
		return nil, fmt.Errorf("stage2: %s/%s has no sha256 for %s", mc.Dir, ckptState, ckptOptim)
	}
	opt, err := weights.Open(filepath.Join(mc.Dir, ckptOptim))
	if err != nil {
		return nil, err
	}
	defer opt.Close()
	m, err := multimodal.New(be, mc.Cfg, mc.Flat)
	if err != nil {
		return nil, err
	}
	t, err := NewTrainer(m, st.Sched, st.BaseLR, st.Seed)
	if err != nil {
		m.Close()
		return nil, err
	}
	t.Step, t.Ranks = st.Step, max(st.Ranks, 1)
	if err := t.loadMoments(opt.Tensors); err != nil {
		t.Close()
		m.Close()
		return nil, err
	}
	return t, nil
}

func (t *Trainer) loadMoments(sd map[string]*weights.Tensor) error {
	for i, ps := range t.named() {
		n := t.Opt.parts[i].w.Len()
		mo, vo := make([]float32, n), make([]float32, n)
		for _, p := range ps {
			for _, x := range []struct {
				prefix string
				dst    []float32
			}{{"exp_avg.", mo}, {"exp_avg_sq.", vo}} {
				tn := sd[x.prefix+p.name]
				if tn == nil {
					return fmt.Errorf("stage2: optimizer state has no %s%s", x.prefix, p.name)
				}
				v, err := tn.Float32()
				if err != nil || len(v) != p.len {
					return fmt.Errorf("stage2: %s%s: %d values, want %d (%v)", x.prefix, p.name, len(v), p.len, err)
				}
				copy(x.dst[p.off:], v)
			}
		}
		if err := t.Opt.parts[i].opt.SetMoments(mo, vo, t.Step); err != nil {
			return err
		}
	}
	return nil
}
