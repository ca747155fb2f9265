package vit

// ImageNet normalisation of the student's pixels, as UMT applies it (x/255 − mean)/std.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// PatchesFromFrames normalises and gathers the patches at tokens of one clip straight from its
// uint8 frames [T, S, S, 3]: value (u/255 − mean[c])/std[c] in float32, as the official
// x.div(255.).sub_(mean).div_(std); rows in the Conv3d fan-in order [3, tubelet, P, P].
func PatchesFromFrames(m Config, frames []byte, tokens []int32) []float32 {
	S, P, G, hw := m.ImgSize, m.Patch, m.Grid(), m.HW()
	pd := m.PatchDim()
	out := make([]float32, len(tokens)*pd)
	for i, tok := range tokens {
		f, p := int(tok)/hw, int(tok)%hw
		gh, gw := p/G, p%G
		row := out[i*pd : (i+1)*pd]
		for ch := 0; ch < 3; ch++ {
			for ph := 0; ph < P; ph++ {
				base := ((f*S+gh*P+ph)*S + gw*P) * 3
				dst := row[(ch*P+ph)*P : (ch*P+ph+1)*P]
				for pw := range dst {
					v := float32(frames[base+pw*3+ch]) / 255
					dst[pw] = (v - ImageNetMean[ch]) / ImageNetStd[ch]
				}
			}
		}
	}
	return out
}

// AppendUnmasked adds one clip of T = b.Frames (0: Config.Frames) uint8 frames to b with every
// token visible, as the evaluation path encodes videos (no mask).
func (b *Batch) AppendUnmasked(c Config, frames []byte) {
	n := b.frames(c) / c.Tubelet * c.HW()
	all := make([]int32, n)
	for i := range all {
		all[i] = int32(i)
	}
	b.B++
	b.Tokens = append(b.Tokens, all...)
	b.Patches = append(b.Patches, PatchesFromFrames(c, frames, all)...)
}
