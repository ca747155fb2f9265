package clip

import (
	"fmt"
	"strings"
)

// StudentPatch is the patch a UMT student (tubelet 1) needs to see frames of size px on the
// same token grid as a teacher of this patch running at resolution px: size / (resolution /
// patch). A dataset stores the teacher's features per grid cell, so the student's grid must
// equal the teacher's; when size is not a whole multiple of the grid no student can train on
// the dataset, and the error lists the --size and --teacher-resolution values that work.
func StudentPatch(size, resolution, patch int) (int, error) {
	if size <= 0 || resolution <= 0 || patch <= 0 || resolution%patch != 0 {
		return 0, fmt.Errorf("clip: frame size %d with a patch-%d teacher at %d px: want positive sizes and a resolution that is a multiple of the patch", size, patch, resolution)
	}
	grid := resolution / patch
	if size%grid == 0 {
		return size / grid, nil
	}
	var sizes, resolutions []string
	for _, p := range []int{8, 14, 16, 32} { // the student patches UMT and ViTs use
		sizes = append(sizes, fmt.Sprint(grid*p))
	}
	for g := 1; g <= size && len(resolutions) < 6; g++ {
		if size%g == 0 && g >= 2 && size/g >= 4 {
			resolutions = append(resolutions, fmt.Sprintf("%d (grid %d, student patch %d)", g*patch, g, size/g))
		}
	}
	return 0, fmt.Errorf("--size %d with a %d×%d teacher grid (--teacher-resolution %d, patch %d) would need a student patch of %d/%d px: no student can train on it; keep --teacher-resolution %d and use --size %s (student patch 8, 14, 16, 32), or keep --size %d and use --teacher-resolution %s",
		size, grid, grid, resolution, patch, size, grid, resolution, strings.Join(sizes, ", "), size, strings.Join(resolutions, ", "))
}
