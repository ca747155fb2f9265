package clip

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestStudentPatchNamesPairsThatWork: a size that is a multiple of the teacher grid gives the
// student's patch; one that is not (the issue's --size 32 with a patch-8 teacher at 112 px) is
// refused, and every --size and --teacher-resolution the error suggests is accepted.
func TestStudentPatchNamesPairsThatWork(t *testing.T) {
	for _, c := range []struct{ size, res, patch, want int }{
		{224, 224, 16, 16}, {64, 64, 16, 16}, {112, 112, 8, 8}, {224, 196, 14, 16}, {32, 32, 8, 8},
	} {
		if got, err := StudentPatch(c.size, c.res, c.patch); err != nil || got != c.want {
			t.Errorf("StudentPatch(%d, %d, %d) = %d, %v; want %d", c.size, c.res, c.patch, got, err, c.want)
		}
	}
	for _, c := range []struct{ size, res, patch int }{{32, 112, 8}, {64, 224, 16}, {100, 196, 14}} {
		_, err := StudentPatch(c.size, c.res, c.patch)
		if err == nil {
			t.Fatalf("StudentPatch(%d, %d, %d) accepted", c.size, c.res, c.patch)
		}
		msg := err.Error()
		_, ress, ok := strings.Cut(msg, "use --size ")
		s, r, ok2 := strings.Cut(ress, "use --teacher-resolution ")
		if !ok || !ok2 {
			t.Fatalf("%q does not name --size and --teacher-resolution values", msg)
		}
		num := regexp.MustCompile(`^\d+|, (\d+)`)
		for _, m := range num.FindAllStringSubmatch(strings.Split(s, " (")[0], -1) {
			v := m[0]
			if m[1] != "" {
				v = m[1]
			}
			n, _ := strconv.Atoi(v)
			if _, err := StudentPatch(n, c.res, c.patch); err != nil {
				t.Errorf("suggested --size %d is refused: %v", n, err)
			}
		}
		rs := regexp.MustCompile(`(\d+) \(grid`).FindAllStringSubmatch(r, -1)
		if len(rs) == 0 {
			t.Fatalf("%q suggests no resolution", msg)
		}
		for _, m := range rs {
			n, _ := strconv.Atoi(m[1])
			if _, err := StudentPatch(c.size, n, c.patch); err != nil {
				t.Errorf("suggested --teacher-resolution %d is refused: %v", n, err)
			}
		}
	}
}
