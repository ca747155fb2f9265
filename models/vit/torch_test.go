package vit

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// TestExportLoadsInPyTorch exports a freshly initialised student (not the reference weights)
// and has bench/stage1_cpu.py — an independent PyTorch transcription whose parameters carry
// the official names — load it with load_state_dict(strict=True), run the same input and mask,
// and return outputs, loss and every gradient. This proves the export is loadable by PyTorch
// code with the official naming and cross-checks forward and backward on a second set of
// weights and a config other than the reference's (head dim 16, 6 frames, K 3). Skipped when
// Debian's python3-torch is not installed.
func TestExportLoadsInPyTorch(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, numpy").Run(); err != nil {
		t.Skipf("needs %s with torch and numpy (Debian python3-torch): %v", py, err)
	}
	cfg := Config{ImgSize: 48, Patch: 16, Frames: 6, Tubelet: 1, Dim: 64, Depth: 4, Heads: 4, MLPRatio: 4, ClipDim: 24, ReturnLayers: 3}
	r := rand.New(rand.NewPCG(11, 12))
	flat := InitParams(cfg, 77)
	for i := range flat {
		flat[i] += float32(0.02 * r.NormFloat64()) // nonzero biases, non-unit norms
	}
	dir := t.TempDir()
	model, err := EncodeState(cfg, flat, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	B, N, hw := 2, cfg.Tokens(), cfg.HW()
	video := make([]float32, B*3*cfg.Frames*cfg.ImgSize*cfg.ImgSize)
	for i := range video {
		video[i] = float32(r.NormFloat64())
	}
	mask := make([]uint8, B*N)
	b := Batch{B: B}
	for c := 0; c < B; c++ {
		var toks []int32
		for f := 0; f < cfg.Frames; f++ {
			keep := r.Perm(hw)[:3] // 3 of 9 visible per frame
			for p := 0; p < hw; p++ {
				mask[c*N+f*hw+p] = 1
			}
			for _, p := range keep {
				mask[c*N+f*hw+p] = 0
			}
		}
		for n := 0; n < N; n++ {
			if mask[c*N+n] == 0 {
				toks = append(toks, int32(n))
			}
		}
		clip := len(video) / B
		p, err := Patchify(cfg, video[c*clip:(c+1)*clip], toks)
		if err != nil {
			t.Fatal(err)
		}
		b.Tokens = append(b.Tokens, toks...)
		b.Patches = append(b.Patches, p...)
	}
	nv := b.Visible()
	b.Targets = make([]float32, cfg.ReturnLayers*B*nv*cfg.ClipDim)
	for i := 0; i < len(b.Targets); i += cfg.ClipDim {
		var ss float64
		for j := i; j < i+cfg.ClipDim; j++ {
			b.Targets[j] = float32(r.NormFloat64())
			ss += float64(b.Targets[j] * b.Targets[j])
		}
		for j := i; j < i+cfg.ClipDim; j++ {
			b.Targets[j] /= float32(math.Sqrt(ss))
		}
	}
	in := map[string]weightstest.Tensor{
		"video":   {Shape: []int{B, 3, cfg.Frames, cfg.ImgSize, cfg.ImgSize}, F32: video},
		"mask":    {Shape: []int{B, N}, U8: mask},
		"targets": {Shape: []int{cfg.ReturnLayers, B, nv, cfg.ClipDim}, F32: b.Targets},
	}
	if err := weightstest.Write(filepath.Join(dir, "input.safetensors"), in, nil); err != nil {
		t.Fatal(err)
	}
	pcfg, _ := json.Marshal(map[string]int{"img": cfg.ImgSize, "patch": cfg.Patch, "frames": cfg.Frames, "dim": cfg.Dim,
		"depth": cfg.Depth, "heads": cfg.Heads, "clip_dim": cfg.ClipDim, "k": cfg.ReturnLayers, "mlp_ratio": cfg.MLPRatio})
	script := filepath.Join(testenv.RepoRoot(t), "bench", "stage1_cpu.py")
	cmd := exec.Command(py, script, "--threads", "1", "--check", dir, "--config", string(pcfg))
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s --check: %v\n%s", script, err, out)
	}
	ref, err := weightstest.Read(filepath.Join(dir, "torch.safetensors"))
	if err != nil {
		t.Fatal(err)
	}

	be := cpu.New(cpu.Options{})
	m, err := New(be, cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	loss, err := m.Step(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := m.Outputs()
	checkClose(t, "outputs", out, ref["outputs"].F32, tolAct)
	if want := float64(ref["loss"].F32[0]); math.Abs(loss-want) > tolLoss*want {
		t.Errorf("loss %.9g, PyTorch %.9g", loss, want)
	}
	grads, _ := m.DownloadGrads()
	for _, p := range m.Params() {
		g, ok := ref["grad."+p.Name]
		if !ok {
			t.Errorf("PyTorch has no parameter %s", p.Name)
			continue
		}
		checkClose(t, "grad."+p.Name, grads[p.Off:p.Off+p.Len], g.F32, tolGrad)
	}
}
