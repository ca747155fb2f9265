package clip

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights"
)

// TestBicubicMatchesTorch compares resizeBicubic with PyTorch's F.interpolate(bicubic,
// align_corners=False) on the golden cases (down, up, non-square, one row). Tolerance 4e-6
// absolute on values up to ~4: PyTorch computes weights and sums in float32 (16 roundings of
// ~2.4e-7 each at that magnitude), we in float64.
func TestBicubicMatchesTorch(t *testing.T) {
	f, err := weights.Open(filepath.Join("testdata", "bicubic_golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; ; i++ {
		in, out := f.Get(fmt.Sprintf("case%d.in", i)), f.Get(fmt.Sprintf("case%d.out", i))
		if in == nil {
			if i == 0 {
				t.Fatal("golden file has no cases")
			}
			break
		}
		x, _ := in.Float32()
		want, _ := out.Float32()
		c, h, w := in.Shape[0], in.Shape[1], in.Shape[2]
		oh, ow := out.Shape[1], out.Shape[2]
		got := make([]float32, c*oh*ow)
		resizeBicubic(got, x, c, h, w, oh, ow)
		compareAbs(t, fmt.Sprintf("case%d %dx%d->%dx%d", i, h, w, oh, ow), got, want, 4e-6)
	}
}

// TestResizePosLayout: resizePos keeps the CLS row and resizes each channel of the grid rows as
// a plane — checked against resizeBicubic on the transposed table.
func TestResizePosLayout(t *testing.T) {
	const g0, g, d = 4, 3, 5
	pos := make([]float32, (g0*g0+1)*d)
	for i := range pos {
		pos[i] = float32(i%7) - 3
	}
	got := resizePos(pos, g0, g, d)
	if len(got) != (g*g+1)*d {
		t.Fatalf("%d values, want %d", len(got), (g*g+1)*d)
	}
	for j := 0; j < d; j++ {
		if got[j] != pos[j] {
			t.Fatalf("CLS row changed at %d", j)
		}
		plane := make([]float32, g0*g0)
		for k := range plane {
			plane[k] = pos[(1+k)*d+j]
		}
		want := make([]float32, g*g)
		resizeBicubic(want, plane, 1, g0, g0, g, g)
		for k := range want {
			if got[(1+k)*d+j] != want[k] {
				t.Fatalf("channel %d token %d: %g, want %g", j, k, got[(1+k)*d+j], want[k])
			}
		}
	}
}

// TestResizedTeacherMatchesTorch runs the repository's tiny reference teacher at resolutions
// other than its native 64 — positional grid 4→3 with frames 64→48, and 4→5 with 64→80 — and
// compares with bench/teacher_cpu.py's PyTorch run (see testdata/README.md), at the same
// tolerance as the reference parity.
func TestResizedTeacherMatchesTorch(t *testing.T) {
	ref := testenv.Testdata(t, "refdata", "umt")
	wf, err := weights.Open(filepath.Join(ref, "teacher_tiny_openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	io, err := weights.Open(filepath.Join(ref, "teacher_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	frames, _ := io.Get("raw_frames_u8").Uint8()
	s := io.Get("raw_frames_u8").Shape
	for _, res := range []int{48, 80} {
		g, err := weights.Open(filepath.Join("testdata", fmt.Sprintf("resize%d_golden.safetensors", res)))
		if err != nil {
			t.Fatal(err)
		}
		w, cfg, err := FromFile(wf, Config{Heads: 4, Resolution: res, ReturnLayers: 2})
		if err != nil {
			t.Fatal(err)
		}
		be := cpu.New(cpu.Options{Threads: 2})
		tch, err := New(be, cfg, w, Options{})
		if err != nil {
			t.Fatal(err)
		}
		feat, attn, err := tch.Encode(frames, s[0], s[1], s[2], s[3])
		if err != nil {
			t.Fatal(err)
		}
		wantF, _ := g.Get("features").Float32()
		wantA, _ := g.Get("attn_cls").Float32()
		compareRef(t, fmt.Sprintf("resolution %d features", res), feat, wantF, refTolerance)
		compareRef(t, fmt.Sprintf("resolution %d attn_cls", res), attn, wantA, refTolerance)
		tch.Close()
		g.Close()
	}
}

func compareAbs(t *testing.T, name string, got, want []float32, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	var worst float64
	wi := 0
	for i := range got {
		d := float64(got[i]) - float64(want[i])
		if d < 0 {
			d = -d
		}
		if d > worst || d != d {
			worst, wi = d, i
		}
	}
	if !(worst <= atol) {
		t.Errorf("%s: max abs err %.3g > %.1g at %d: got %.8g want %.8g", name, worst, atol, wi, got[wi], want[wi])
	}
}
