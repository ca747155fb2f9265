package cuda

import "fmt"

// Launch configurations as pure functions, so that their arithmetic at tile boundaries is
// tested without a GPU. CUDA limits grid.y and grid.z to 65535 blocks.

const (
	blockThreads  = 256 // elementwise kernels
	rowWarps      = 4   // row kernels: warps (rows) per block
	attnRows      = 64  // attention forward/backward: query (or key) rows per block, ATT_BQ / BWD_ROWS
	maxGridYZ     = 65535
	colsumRowsMin = 256 // column reductions: rows per block at least
	colsumMaxY    = 128 // ... and at most this many row blocks
)

// cdiv is ceil(a / b) for a >= 0, b > 0.
func cdiv(a, b int) int { return (a + b - 1) / b }

// elementwiseGrid is the grid of a grid-stride kernel over n elements: enough blocks to cover
// n, capped at 32 blocks per SM (the loop covers the rest), at least 1.
func elementwiseGrid(n int, sms int) int {
	g := cdiv(n, blockThreads)
	if limit := 32 * max(sms, 1); g > limit {
		g = limit
	}
	return max(g, 1)
}

// rowGrid is the grid of a warp-per-row kernel with rowWarps rows per block.
func rowGrid(rows int) int { return max(cdiv(rows, rowWarps), 1) }

// colsumGrid splits the column reduction of a [rows, dim] matrix: 32 columns per block in x,
// row chunks of rowsPerBlock in y.
func colsumGrid(rows, dim int) (gx, gy, rowsPerBlock int) {
	gx = max(cdiv(dim, 32), 1)
	gy = min(max(cdiv(rows, colsumRowsMin), 1), colsumMaxY)
	rowsPerBlock = max(cdiv(rows, gy), 1)
	gy = max(cdiv(rows, rowsPerBlock), 1)
	return gx, gy, rowsPerBlock
}

// attnDMax is the register width of the attention kernels for head size dh.
func attnDMax(dh int) (int, error) {
	switch {
	case dh <= 0:
		return 0, fmt.Errorf("head size %d", dh)
	case dh <= 32:
		return 32, nil
	case dh <= 64:
		return 64, nil
	case dh <= 128:
		return 128, nil
	}
	return 0, fmt.Errorf("kernels/cuda attention supports head sizes up to 128, got %d", dh)
}

// attnGrid is the grid of the attention forward and backward kernels: row tiles of attnRows
// in x, one (batch, head) pair per y.
func attnGrid(rows, b, h int) (gx, gy int, err error) {
	if b*h > maxGridYZ {
		return 0, 0, fmt.Errorf("attention over B*H = %d*%d = %d (batch, head) pairs exceeds CUDA's grid limit %d; split the batch", b, h, b*h, maxGridYZ)
	}
	return cdiv(rows, attnRows), b * h, nil
}

// probsGrid is the grid of attn_probs: 32x32 tiles of [Lq, Lk] per (batch, head) in z.
func probsGrid(lq, lk, bh int) (gx, gy, gz int, err error) {
	gy = cdiv(lq, 32)
	if bh > maxGridYZ || gy > maxGridYZ {
		return 0, 0, 0, fmt.Errorf("attention probabilities over %d (batch, head) pairs and %d query rows exceed CUDA's grid limit %d; split the batch", bh, lq, maxGridYZ)
	}
	return cdiv(lk, 32), gy, bh, nil
}

// headMeanGrid is the grid of attn_head_mean: rowWarps keys per block in x, batches in y.
func headMeanGrid(lk, b int) (gx, gy int, err error) {
	if b > maxGridYZ {
		return 0, 0, fmt.Errorf("attention head mean over batch %d exceeds CUDA's grid limit %d; split the batch", b, maxGridYZ)
	}
	return cdiv(lk, rowWarps), b, nil
}

// reduceBlocks is the number of partial sums of a two-stage reduction over n items with
// per-block coverage per (rows per block, or elements per block before the grid-stride loop).
func reduceBlocks(n, per, sms int) int {
	return min(max(cdiv(n, per), 1), 8*max(sms, 1))
}
