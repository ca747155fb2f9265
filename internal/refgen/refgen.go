// Package refgen writes synthetic stage-1 reference sets in the layout of testdata/refdata/umt
// for options and sizes other than the public set's: teacher weights (OpenAI naming), the
// teacher's inputs and outputs (stage-1 and stage-2 variants), a mask and the student's inputs
// and targets, with a manifest that states every option. The values come from this project's
// own teacher, so such a set says nothing about fidelity to the official code; tests use it to
// prove that parity tests take every option from the manifest and every size from the
// tensors, pass on any valid set and fail with the reason on one they cannot handle.
package refgen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/models/weights"
)

// TeacherConfig is the teacher a set describes: every option from its manifest.
func TeacherConfig(s testenv.Stage1) clip.Config {
	t := s.Teacher
	return clip.Config{Width: t.Width, Layers: t.Layers, Heads: t.Heads, Patch: s.Patch, OutputDim: t.OutputDim,
		PosGrid: s.Img / s.Patch, Resolution: s.Img, ReturnLayers: t.ReturnLayers, ReturnInterval: t.ReturnInterval}.WithDefaults()
}

// Write writes the teacher files, the student inputs (student_tiny_io.safetensors with
// pixel_values, bool_masked_pos and targets_clip) and manifest.json of s into dir.
func Write(dir string, s testenv.Stage1, seed uint64) error {
	tc := TeacherConfig(s)
	if err := tc.Validate(); err != nil {
		return err
	}
	w, err := clip.RandomWeights(tc, seed)
	if err != nil {
		return err
	}
	B, T, S, HW, K, O := s.B, s.T, s.Img, s.HW(), tc.ReturnLayers, tc.OutputDim
	r := rand.New(rand.NewPCG(seed, 0x72656667))
	frames := make([]byte, B*T*S*S*3)
	for i := range frames {
		frames[i] = byte(r.IntN(256))
	}
	enc := func(norm string) ([]float32, []float32, error) {
		c := tc
		c.Norm = norm
		t, err := clip.New(cpu.New(cpu.Options{Threads: 2}), c, w, clip.Options{})
		if err != nil {
			return nil, nil, err
		}
		defer t.Close()
		return t.Encode(frames, B, T, S, S)
	}
	feat, attn, err := enc("l2")
	if err != nil {
		return err
	}
	raw, _, err := enc("none")
	if err != nil {
		return err
	}
	// pixel_values [B, 3, T, S, S] as x.div(255.).sub_(mean).div_(std) in float32.
	px := make([]float32, len(frames))
	for b := 0; b < B; b++ {
		for c := 0; c < 3; c++ {
			for f := 0; f < T; f++ {
				for i := 0; i < S*S; i++ {
					v := float32(frames[((b*T+f)*S*S+i)*3+c]) / 255
					v -= tc.Mean[c]
					px[(((b*3+c)*T+f)*S*S)+i] = v / tc.Std[c]
				}
			}
		}
	}
	// A mask with the official per-frame count of visible patches (1 = masked), and the targets
	// at the visible tokens in ascending order.
	N, vis := T*HW, HW-int(float64(HW)*s.MaskRatio)
	mask := make([]byte, B*N)
	for i := range mask {
		mask[i] = 1
	}
	var targets []float32
	for b := 0; b < B; b++ {
		for f := 0; f < T; f++ {
			for _, p := range r.Perm(HW)[:vis] {
				mask[b*N+f*HW+p] = 0
			}
		}
	}
	nv := T * vis
	targets = make([]float32, 0, K*B*nv*O)
	for k := 0; k < K; k++ {
		for b := 0; b < B; b++ {
			for n := 0; n < N; n++ {
				if mask[b*N+n] == 0 {
					targets = append(targets, feat[((k*B+b)*N+n)*O:((k*B+b)*N+n+1)*O]...)
				}
			}
		}
	}
	ret := tc.ReturnIndices()
	idx := make([]byte, 8*len(ret))
	for i, l := range ret {
		binary.LittleEndian.PutUint64(idx[8*i:], uint64(l))
	}
	ow, err := w.OpenAITensors(tc)
	if err != nil {
		return err
	}
	hw, err := w.HFTensors(tc)
	if err != nil {
		return err
	}
	files := map[string][]weights.Tensor{
		"teacher_tiny_openai.safetensors": ow,
		"teacher_tiny_hf.safetensors":     hw,
		"teacher_tiny_io.safetensors": {
			{Name: "raw_frames_u8", DType: "U8", Shape: []int{B, T, S, S, 3}, Data: frames},
			weights.F32Tensor("norm_mean", []int{3}, tc.Mean[:]),
			weights.F32Tensor("norm_std", []int{3}, tc.Std[:]),
			weights.F32Tensor("pixel_values", []int{B, 3, T, S, S}, px),
			weights.F32Tensor("teacher.features", []int{K, B, N, O}, feat),
			weights.F32Tensor("teacher.attn_cls", []int{B * T, HW}, attn),
			{Name: "return_layer_indices", DType: "I64", Shape: []int{K}, Data: idx},
		},
		"mm_teacher_tiny_io.safetensors": {
			weights.F32Tensor("mm_teacher.features_unnormalized", []int{K, B, N, O}, raw),
			weights.F32Tensor("mm_teacher.attn_cls", []int{B * T, HW}, attn),
		},
		"student_tiny_io.safetensors": {
			weights.F32Tensor("pixel_values", []int{B, 3, T, S, S}, px),
			{Name: "bool_masked_pos", DType: "U8", Shape: []int{B, N}, Data: mask},
			weights.F32Tensor("targets_clip", []int{K, B, nv, O}, targets),
		},
	}
	for name, ts := range files {
		b, err := weights.Marshal(ts, nil)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("refgen: %s: %w", name, err)
		}
	}
	s.Derived.NVisPerFrame, s.Derived.TeacherReturn = vis, ret
	return testenv.WriteStage1Manifest(dir, s, nil)
}
