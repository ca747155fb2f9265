package clip

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights"
)

// TestPooledEqualsReferenceCLS: EncodePooled is CLIP's encode_image, L2-normalised. The golden is
// computed here, independently of the teacher's kernels, in float64 from the reference set's own
// tensors: the residual stream after the last block (teacher.hidden_states[L], row 0 = CLS),
// LayerNorm with visual.ln_post (eps 1e-5), times visual.proj [D, O], L2-normalised.
func TestPooledEqualsReferenceCLS(t *testing.T) {
	m, io, _ := refSet(t)
	frames := refFrames(t, m, io)
	B, T, H, W := m.B, m.T, m.Img, m.Img
	L, D, O, HW := m.Teacher.Layers, m.Teacher.Width, m.Teacher.OutputDim, m.HW()
	hidden := refTensor(t, io, "teacher.hidden_states", L+1, B*T, 1+HW, D)

	f, err := weights.Open(filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lnW := refTensor(t, f, "visual.ln_post.weight", D)
	lnB := refTensor(t, f, "visual.ln_post.bias", D)
	proj := refTensor(t, f, "visual.proj", D, O)

	want := make([]float32, B*T*O)
	last := hidden[L*B*T*(1+HW)*D:]
	for fr := 0; fr < B*T; fr++ {
		cls := last[fr*(1+HW)*D : fr*(1+HW)*D+D]
		var mean, vr float64
		for _, v := range cls {
			mean += float64(v)
		}
		mean /= float64(D)
		for _, v := range cls {
			vr += (float64(v) - mean) * (float64(v) - mean)
		}
		vr /= float64(D)
		ln := make([]float64, D)
		for i, v := range cls {
			ln[i] = (float64(v)-mean)/math.Sqrt(vr+1e-5)*float64(lnW[i]) + float64(lnB[i])
		}
		emb := make([]float64, O)
		var ss float64
		for o := range emb {
			for i := range ln {
				emb[o] += ln[i] * float64(proj[i*O+o])
			}
			ss += emb[o] * emb[o]
		}
		for o, v := range emb {
			want[fr*O+o] = float32(v / math.Max(math.Sqrt(ss), 1e-12))
		}
	}

	w, full, err := FromFile(f, refConfig(t, m, io))
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{Threads: 2})
	tch, err := New(be, full, w, Options{MaxFrames: 3}) // a chunk that does not divide B·T
	if err != nil {
		t.Fatal(err)
	}
	got, err := tch.EncodePooled(frames, B, T, H, W)
	if err != nil {
		t.Fatal(err)
	}
	compareRef(t, "pooled CLS embedding", got, want, refTolerance)
	if err := tch.Close(); err != nil {
		t.Fatal(err)
	}
	if st := be.Stats(); st.LiveBytes != 0 {
		t.Errorf("%d bytes still allocated after Close", st.LiveBytes)
	}
}
