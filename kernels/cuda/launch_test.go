package cuda

import "testing"

func TestElementwiseGrid(t *testing.T) {
	for _, c := range []struct{ n, sms, want int }{
		{0, 132, 1}, {1, 132, 1}, {255, 132, 1}, {256, 132, 1}, {257, 132, 2},
		{256 * 32 * 132, 132, 32 * 132}, {256*32*132 + 1, 132, 32 * 132}, {1 << 30, 0, 32},
	} {
		if got := elementwiseGrid(c.n, c.sms); got != c.want {
			t.Errorf("elementwiseGrid(%d, %d) = %d, want %d", c.n, c.sms, got, c.want)
		}
	}
}

func TestRowGrid(t *testing.T) {
	for _, c := range []struct{ rows, want int }{{0, 1}, {1, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 3}, {20480, 5120}} {
		if got := rowGrid(c.rows); got != c.want {
			t.Errorf("rowGrid(%d) = %d, want %d", c.rows, got, c.want)
		}
	}
}

// TestColsumGridCovers checks that the column-reduction grid covers every row and column
// exactly once at sizes around its block edges.
func TestColsumGridCovers(t *testing.T) {
	for _, rows := range []int{1, 7, 255, 256, 257, 511, 512, 513, 32767, 32768, 32769, 20480, 1 << 20} {
		for _, dim := range []int{1, 31, 32, 33, 768, 3072} {
			gx, gy, per := colsumGrid(rows, dim)
			if gx*32 < dim || (gx-1)*32 >= dim {
				t.Errorf("colsumGrid(%d, %d): %d column blocks for %d columns", rows, dim, gx, dim)
			}
			if gy*per < rows || (gy-1)*per >= rows || gy > colsumMaxY || gy > maxGridYZ {
				t.Errorf("colsumGrid(%d, %d): %d row blocks of %d rows", rows, dim, gy, per)
			}
		}
	}
}

func TestAttnGridAndDMax(t *testing.T) {
	for _, c := range []struct{ rows, gx int }{{1, 1}, {63, 1}, {64, 1}, {65, 2}, {197, 4}, {320, 5}, {1568, 25}} {
		gx, gy, err := attnGrid(c.rows, 512, 12)
		if err != nil || gx != c.gx || gy != 512*12 {
			t.Errorf("attnGrid(%d, 512, 12) = %d, %d, %v; want %d, %d", c.rows, gx, gy, err, c.gx, 512*12)
		}
	}
	if _, _, err := attnGrid(10, 65536, 1); err == nil {
		t.Error("attnGrid accepts B*H over the grid limit")
	}
	if _, _, err := attnGrid(10, 5462, 12); err == nil { // 65544 pairs
		t.Error("attnGrid accepts B*H over the grid limit")
	}
	gx, gy, gz, err := probsGrid(197, 197, 6144)
	if err != nil || gx != 7 || gy != 7 || gz != 6144 {
		t.Errorf("probsGrid(197, 197, 6144) = %d %d %d %v", gx, gy, gz, err)
	}
	if hx, hy, err := headMeanGrid(197, 512); err != nil || hx != 50 || hy != 512 {
		t.Errorf("headMeanGrid(197, 512) = %d %d %v", hx, hy, err)
	}
	for _, c := range []struct{ dh, want int }{{1, 32}, {32, 32}, {33, 64}, {64, 64}, {65, 128}, {80, 128}, {128, 128}} {
		if got, err := attnDMax(c.dh); err != nil || got != c.want {
			t.Errorf("attnDMax(%d) = %d, %v; want %d", c.dh, got, err, c.want)
		}
	}
	for _, dh := range []int{0, -1, 129, 256} {
		if _, err := attnDMax(dh); err == nil {
			t.Errorf("attnDMax(%d) accepted", dh)
		}
	}
}

func TestReduceBlocks(t *testing.T) {
	for _, c := range []struct{ n, per, sms, want int }{{0, 256, 132, 1}, {1, 256, 132, 1}, {257, 256, 132, 2}, {1 << 30, 256, 132, 1056}} {
		if got := reduceBlocks(c.n, c.per, c.sms); got != c.want {
			t.Errorf("reduceBlocks(%d, %d, %d) = %d, want %d", c.n, c.per, c.sms, got, c.want)
		}
	}
}
