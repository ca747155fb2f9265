package clip

import "math"

// Bicubic resizing exactly as PyTorch's F.interpolate(mode="bicubic", align_corners=False)
// without antialias: source coordinate (dst+0.5)·in/out−0.5 (not clamped), Keys' cubic
// convolution with A = −0.75 on the four neighbours floor(src)−1 … floor(src)+2, neighbours
// outside the image clamped to the border; separable (along x, then y). Weights and sums are
// computed in float64, so results agree with PyTorch's float32 ones to a few float32 ulps.

const cubicA = -0.75

// cubicWeights returns the four interpolation weights for fractional offset t in [0, 1).
func cubicWeights(t float64) [4]float64 {
	w1 := func(x float64) float64 { return ((cubicA+2)*x-(cubicA+3))*x*x + 1 }             // |x| <= 1
	w2 := func(x float64) float64 { return ((cubicA*x-5*cubicA)*x+8*cubicA)*x - 4*cubicA } // 1 < |x| < 2
	return [4]float64{w2(t + 1), w1(t), w1(1 - t), w2(2 - t)}
}

// axisTaps precomputes, for every output position along one axis, the four clamped input
// indices and their weights.
func axisTaps(in, out int) (idx [][4]int, wts [][4]float64) {
	idx, wts = make([][4]int, out), make([][4]float64, out)
	scale := float64(float32(in) / float32(out)) // PyTorch computes the scale in float32
	for o := 0; o < out; o++ {
		src := scale*(float64(o)+0.5) - 0.5
		f := math.Floor(src)
		wts[o] = cubicWeights(src - f)
		for k := 0; k < 4; k++ {
			idx[o][k] = min(max(int(f)-1+k, 0), in-1)
		}
	}
	return idx, wts
}

// resizeBicubic resizes c planes of [h, w] (src, plane-major) to [oh, ow] into dst.
func resizeBicubic(dst, src []float32, c, h, w, oh, ow int) {
	if h == oh && w == ow {
		copy(dst, src[:c*h*w])
		return
	}
	xi, xw := axisTaps(w, ow)
	yi, yw := axisTaps(h, oh)
	rows := make([]float64, h*ow) // one plane interpolated along x
	for p := 0; p < c; p++ {
		plane := src[p*h*w : (p+1)*h*w]
		for y := 0; y < h; y++ {
			in := plane[y*w : y*w+w]
			for x := 0; x < ow; x++ {
				i, k := xi[x], xw[x]
				rows[y*ow+x] = k[0]*float64(in[i[0]]) + k[1]*float64(in[i[1]]) + k[2]*float64(in[i[2]]) + k[3]*float64(in[i[3]])
			}
		}
		out := dst[p*oh*ow : (p+1)*oh*ow]
		for y := 0; y < oh; y++ {
			i, k := yi[y], yw[y]
			for x := 0; x < ow; x++ {
				out[y*ow+x] = float32(k[0]*rows[i[0]*ow+x] + k[1]*rows[i[1]*ow+x] + k[2]*rows[i[2]*ow+x] + k[3]*rows[i[3]*ow+x])
			}
		}
	}
}

// resizePos resizes a positional table [g0²+1, d] to [g²+1, d] as UMT's loader does: the CLS row
// is kept, the grid rows become d planes of g0×g0, are resized bicubically, and are flattened
// back in (h, w) order.
func resizePos(pos []float32, g0, g, d int) []float32 {
	if g0 == g {
		return append([]float32(nil), pos...)
	}
	planes := make([]float32, d*g0*g0) // [d, g0, g0]
	for t := 0; t < g0*g0; t++ {
		for j := 0; j < d; j++ {
			planes[j*g0*g0+t] = pos[(1+t)*d+j]
		}
	}
	resized := make([]float32, d*g*g)
	resizeBicubic(resized, planes, d, g0, g0, g, g)
	out := make([]float32, (g*g+1)*d)
	copy(out, pos[:d])
	for t := 0; t < g*g; t++ {
		for j := 0; j < d; j++ {
			out[(1+t)*d+j] = resized[j*g*g+t]
		}
	}
	return out
}
