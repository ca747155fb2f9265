package vit

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights"
)

// parityTests are the tests that read UMT_REFDATA's student files.
const parityTests = "^(TestSinusoidMatchesReference|TestStateDictNamesAndShapes|TestReferenceParity)$"

// TestParityTestsTakeEveryOptionFromTheSet runs the parity tests against reference sets with
// other options and sizes than the public one (return interval 3 and 2, tubelet 2, other
// widths, depths, heads, MLP ratio, frames, image and patch sizes, batch, mask ratio), written in
// the reference layout by this package's own model. Such a set proves nothing about fidelity
// (the public set and TestDecodersReadTheReturnedBlocks do that); it proves that the tests read
// every option from the manifest and every size from the tensors, so they pass with no skip on
// any valid set, and that a set they cannot handle fails them with the reason, never a panic.
func TestParityTestsTakeEveryOptionFromTheSet(t *testing.T) {
	a := stage1Set(3, 2, 32, 8, 0.5)
	a.Student.Dim, a.Student.Depth, a.Student.Heads, a.Student.Tubelet = 32, 5, 2, 1
	a.Student.ReturnLayers, a.Student.ReturnInterval, a.Student.MLPRatio = 2, 3, ptr(2.0)
	a.Teacher.OutputDim, a.Teacher.ReturnLayers = 24, 2
	b := stage1Set(2, 4, 48, 16, 0.75)
	b.Student.Dim, b.Student.Depth, b.Student.Heads, b.Student.Tubelet = 32, 4, 4, 2
	b.Student.ReturnLayers, b.Student.ReturnInterval = 2, 2
	b.Teacher.OutputDim, b.Teacher.ReturnLayers = 16, 2
	for name, s := range map[string]testenv.Stage1{"interval 3": a, "interval 2 tubelet 2": b} {
		dir := t.TempDir()
		writeStudentSet(t, dir, s)
		t.Run(name, func(t *testing.T) { testenv.RunParity(t, dir, parityTests, "") })
	}

	// Sets the tests cannot handle: the tensors of set a under a changed manifest.
	base := t.TempDir()
	writeStudentSet(t, base, a)
	for _, c := range []struct {
		name  string
		edit  func(s *testenv.Stage1)
		extra map[string]any
		want  string
	}{
		{"drop path", func(s *testenv.Stage1) { s.Student.DropPath = ptr(0.1) }, nil, "drop_path_rate 0.1"},
		{"mse loss", func(s *testenv.Stage1) { s.LossType = "mse" }, nil, `clip_loss_type "mse"`},
		{"unknown option", nil, map[string]any{"use_learnable_pos_emb": true}, `unknown field "use_learnable_pos_emb"`},
		{"other sizes than the tensors", func(s *testenv.Stage1) { s.Img = 64 }, nil, "its manifest implies"},
		{"interval past block 0", func(s *testenv.Stage1) { s.Student.ReturnInterval = 5 }, nil, "reach block -1"},
		{"other interval than the tensors", func(s *testenv.Stage1) { s.Student.ReturnInterval = 2 }, nil, "clip_student_return_interval 2 of its manifest gives [2 4]"},
		{"K differs from the teacher's", func(s *testenv.Stage1) { s.Teacher.ReturnLayers = 3 }, nil, "the teacher returns 3 layers, the student 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := a
			if c.edit != nil {
				c.edit(&s)
			}
			dir := t.TempDir()
			for _, f := range []string{"student_tiny_weights.safetensors", "student_tiny_io.safetensors"} {
				if err := os.Symlink(filepath.Join(base, f), filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			if err := testenv.WriteStage1Manifest(dir, s, c.extra); err != nil {
				t.Fatal(err)
			}
			testenv.RunParity(t, dir, parityTests, c.want)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// stage1Set is a manifest skeleton: B clips of T frames, img/patch, mask ratio, l2 loss.
func stage1Set(B, T, img, patch int, maskRatio float64) testenv.Stage1 {
	s := testenv.Stage1{B: B, T: T, Img: img, Patch: patch, MaskRatio: maskRatio, LossType: "l2", LossRatio: 1}
	s.Teacher.Width, s.Teacher.Layers, s.Teacher.Heads, s.Teacher.ReturnInterval = 32, 3, 2, 1
	return s
}

// writeStudentSet writes the student files of a reference set for s (weights, input, mask,
// targets, outputs, loss, activations, gradients) computed by this package, and its manifest.
func writeStudentSet(t *testing.T, dir string, s testenv.Stage1) {
	t.Helper()
	cfg, err := refConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Derived.StudentReturn = cfg.ReturnIndex()
	r := rand.New(rand.NewPCG(21, uint64(cfg.Depth)))
	flat := InitParams(cfg, 5)
	for i := range flat {
		flat[i] += float32(0.05 * r.NormFloat64())
	}
	be := cpu.New(cpu.Options{Threads: 2})
	m, err := New(be, cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	B, N, hw, S := s.B, cfg.Tokens(), cfg.HW(), cfg.ImgSize
	K, C, D := cfg.ReturnLayers, cfg.ClipDim, cfg.Dim
	vis := hw - int(float64(hw)*s.MaskRatio) // per time slice, as the official mask
	clip := 3 * cfg.Frames * S * S
	video := make([]float32, B*clip)
	for i := range video {
		video[i] = float32(r.NormFloat64())
	}
	mask := make([]uint8, B*N)
	b := Batch{B: B}
	for c := 0; c < B; c++ {
		for i := range N {
			mask[c*N+i] = 1
		}
		for sl := 0; sl < cfg.Slices(); sl++ {
			for _, p := range r.Perm(hw)[:vis] {
				mask[c*N+sl*hw+p] = 0
			}
		}
		var toks []int32
		for n := 0; n < N; n++ {
			if mask[c*N+n] == 0 {
				toks = append(toks, int32(n))
			}
		}
		p, err := Patchify(cfg, video[c*clip:(c+1)*clip], toks)
		if err != nil {
			t.Fatal(err)
		}
		b.Patches = append(b.Patches, p...)
		b.Tokens = append(b.Tokens, toks...)
	}
	nv := b.Visible()
	b.Targets = unitTargets(r, K*B*nv, C)
	loss, err := m.Step(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Derived.Loss = loss
	grads, _ := m.DownloadGrads()
	out, _ := m.Outputs()
	ws, M := m.ws, B*nv
	var wt []weights.Tensor
	for _, p := range m.Params() {
		wt = append(wt, weights.F32Tensor(p.Name, p.Shape, flat[p.Off:p.Off+p.Len]))
	}
	pe := Sinusoid(N, D)
	wt = append(wt, weights.F32Tensor("const.encoder.pos_embed", []int{1, N, D}, pe), weights.F32Tensor("const.clip_pos_embed", []int{1, N, D}, pe))
	idx := make([]byte, 8*K)
	for k, l := range cfg.ReturnIndex() {
		binary.LittleEndian.PutUint64(idx[8*k:], uint64(l))
	}
	io := []weights.Tensor{
		weights.F32Tensor("pixel_values", []int{B, 3, cfg.Frames, S, S}, video),
		{Name: "bool_masked_pos", DType: "U8", Shape: []int{B, N}, Data: mask},
		{Name: "return_layer_indices", DType: "I64", Shape: []int{K}, Data: idx},
		weights.F32Tensor("targets_clip", []int{K, B, nv, C}, b.Targets),
		weights.F32Tensor("outputs_clip", []int{K, B, nv, C}, out),
		weights.F32Tensor("loss", []int{1}, []float32{float32(loss)}),
		weights.F32Tensor("x_clip_vis_normed", []int{K, B, nv, D}, be.Data(ws.nrm)),
	}
	for l := 0; l < cfg.Depth; l++ {
		io = append(io, weights.F32Tensor("block_out."+itoa(l), []int{B, nv, D}, be.Data(ws.xs[l])))
	}
	for k := 0; k < K; k++ {
		io = append(io,
			weights.F32Tensor("decoder."+itoa(k)+".input", []int{B, nv, D}, be.Data(ws.z.View(k*M*D, M*D))),
			weights.F32Tensor("decoder."+itoa(k)+".head_out", []int{B, nv, C}, be.Data(ws.u.View(k*M*C, M*C))))
	}
	for _, p := range m.Params() {
		io = append(io, weights.F32Tensor("grad."+p.Name, p.Shape, grads[p.Off:p.Off+p.Len]))
	}
	for name, ts := range map[string][]weights.Tensor{"student_tiny_weights.safetensors": wt, "student_tiny_io.safetensors": io} {
		b, err := weights.Marshal(ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := testenv.WriteStage1Manifest(dir, s, nil); err != nil {
		t.Fatal(err)
	}
}
