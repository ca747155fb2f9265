package clip_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/refgen"
	"github.com/umt-dev/umt/internal/testenv"
)

// refTests are the tests of this package that read UMT_REFDATA.
const refTests = "^(TestParityWithReference|TestPreprocessingMatchesReference|TestLoadForms|TestHalfPrecisionWeights|TestWeightErrors|TestStrippedAndUMTNaming|TestHFExportMatchesReferenceFile)$"

// TestParityTestsTakeEveryOptionFromTheSet runs the teacher's reference tests in a child process
// against synthetic sets (internal/refgen) with other options and sizes than the public one:
// return intervals 3, 2 and 1.5, other widths, depths, heads, output dims, batch, frames, image
// and patch sizes. They must pass with no skip; sets they cannot handle must fail them with the
// reason, never a panic.
func TestParityTestsTakeEveryOptionFromTheSet(t *testing.T) {
	set := func(B, T, img, patch, width, layers, heads, out, k int, interval float64) testenv.Stage1 {
		s := testenv.Stage1{B: B, T: T, Img: img, Patch: patch, MaskRatio: 0.5, LossType: "l2", LossRatio: 1}
		s.Teacher.Width, s.Teacher.Layers, s.Teacher.Heads, s.Teacher.OutputDim = width, layers, heads, out
		s.Teacher.ReturnLayers, s.Teacher.ReturnInterval = k, interval
		s.Student.Dim, s.Student.Depth, s.Student.Heads, s.Student.Tubelet, s.Student.ReturnLayers, s.Student.ReturnInterval = 32, 2, 2, 1, k, 1
		return s
	}
	a := set(3, 2, 32, 8, 32, 5, 2, 24, 2, 3)    // blocks [1 4]
	b := set(2, 3, 48, 16, 48, 4, 4, 16, 2, 2)   // blocks [1 3]
	c := set(1, 2, 32, 16, 32, 6, 4, 16, 3, 1.5) // blocks [2 4 5]
	for name, s := range map[string]testenv.Stage1{"interval 3": a, "interval 2": b, "interval 1.5": c} {
		dir := t.TempDir()
		if err := refgen.Write(dir, s, 7); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { testenv.RunParity(t, dir, refTests, "") })
	}

	base := t.TempDir()
	if err := refgen.Write(base, a, 7); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		name  string
		edit  func(s *testenv.Stage1)
		extra map[string]any
		want  string
	}{
		{"unknown option", nil, map[string]any{"clip_input_resolution": 224}, `unknown field "clip_input_resolution"`},
		{"other sizes than the tensors", func(s *testenv.Stage1) { s.Img, s.Patch = 64, 16 }, nil, "its manifest implies"},
		{"interval past block 0", func(s *testenv.Stage1) { s.Teacher.ReturnInterval = 5 }, nil, "reach block -1"},
		{"other interval than the tensors", func(s *testenv.Stage1) { s.Teacher.ReturnInterval = 2 }, nil, "returned blocks [2 4], reference says [1 4]"},
	} {
		t.Run(x.name, func(t *testing.T) {
			s := a
			if x.edit != nil {
				x.edit(&s)
			}
			dir := t.TempDir()
			ents, _ := os.ReadDir(base)
			for _, e := range ents {
				if e.Name() != "manifest.json" {
					if err := os.Symlink(filepath.Join(base, e.Name()), filepath.Join(dir, e.Name())); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := testenv.WriteStage1Manifest(dir, s, x.extra); err != nil {
				t.Fatal(err)
			}
			testenv.RunParity(t, dir, "^TestParityWithReference$", x.want)
		})
	}
}
