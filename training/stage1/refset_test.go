package stage1_test

import (
	"testing"

	"github.com/umt-dev/umt/internal/refgen"
	"github.com/umt-dev/umt/internal/testenv"
)

// refTests are the tests of this package that read UMT_REFDATA.
const refTests = "^(TestBatchMatchesReference|TestLearnsReferenceClips|TestLearnsFromVideoFrames)$"

// TestReferenceTestsTakeEveryOptionFromTheSet runs the stage-1 tests that read UMT_REFDATA in a
// child process against synthetic sets (internal/refgen) with other options and sizes than the
// public one: teacher and student return intervals 3 and 2, other depths, widths, batch,
// frames, image and patch sizes and mask ratio. They must pass with no skip, and a set they
// cannot handle (a student tubelet of 2, which stage-1 training does not offer) must fail them
// with the reason, never a panic or an index out of range.
func TestReferenceTestsTakeEveryOptionFromTheSet(t *testing.T) {
	s := testenv.Stage1{B: 3, T: 2, Img: 32, Patch: 8, MaskRatio: 0.5, LossType: "l2", LossRatio: 1}
	s.Teacher.Width, s.Teacher.Layers, s.Teacher.Heads, s.Teacher.OutputDim = 32, 5, 2, 24
	s.Teacher.ReturnLayers, s.Teacher.ReturnInterval = 2, 3 // blocks [1 4]
	s.Student.Dim, s.Student.Depth, s.Student.Heads, s.Student.Tubelet = 32, 4, 2, 1
	s.Student.ReturnLayers, s.Student.ReturnInterval = 2, 2 // blocks [1 3]
	dir := t.TempDir()
	if err := refgen.Write(dir, s, 11); err != nil {
		t.Fatal(err)
	}
	testenv.RunParity(t, dir, refTests, "")

	s.Student.Tubelet = 2
	bad := t.TempDir()
	if err := refgen.Write(bad, s, 11); err != nil {
		t.Fatal(err)
	}
	testenv.RunParity(t, bad, refTests, "training needs tubelet 1")
}
