package clip

// Host-side input preparation: uint8 RGB frames → normalised float planes → (bicubic resize) →
// patch rows for the patch-embedding GEMM.

// normLUT maps each byte value to (v/255 − mean[c]) / std[c] per channel, computed in float32
// in the same order as UMT's x.div(255.).sub_(m).div_(s).
func normLUT(mean, std [3]float32) [3][256]float32 {
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			x := float32(v) / 255
			x -= mean[c]
			lut[c][v] = x / std[c]
		}
	}
	return lut
}

// framePatches writes one frame's patch rows into dst [HW, 3·P·P] (row = gy·G+gx, column =
// c·P² + ky·P + kx, the order of conv1.weight [D, 3, P, P] flattened). frame is [H, W, 3] uint8;
// planes and resized are scratch of 3·H·W and 3·R·R floats.
func framePatches(dst []float32, frame []byte, h, w int, lut *[3][256]float32, r, p int, planes, resized []float32) {
	for i := 0; i < h*w; i++ {
		px := frame[3*i : 3*i+3]
		planes[i] = lut[0][px[0]]
		planes[h*w+i] = lut[1][px[1]]
		planes[2*h*w+i] = lut[2][px[2]]
	}
	img := planes
	if h != r || w != r {
		resizeBicubic(resized, planes, 3, h, w, r, r)
		img = resized
	}
	g := r / p
	cols := 3 * p * p
	for gy := 0; gy < g; gy++ {
		for gx := 0; gx < g; gx++ {
			row := dst[(gy*g+gx)*cols : (gy*g+gx+1)*cols]
			for c := 0; c < 3; c++ {
				for ky := 0; ky < p; ky++ {
					src := img[c*r*r+(gy*p+ky)*r+gx*p:]
					copy(row[c*p*p+ky*p:c*p*p+ky*p+p], src[:p])
				}
			}
		}
	}
}
