package masks

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/umt-dev/umt/internal/testenv"
)

// TestStage2MaskReplaysStoredDraws: for every stage-2 reference batch the set holds (video at
// ratio 0.8, image at 0.5 with T = 1), FromNoise on the stored teacher attention and Exp(1)
// noise gives the official importance order and bool_masked_pos exactly, with the visible
// count of the manifest's mask ratio.
func TestStage2MaskReplaysStoredDraws(t *testing.T) {
	dir := testenv.RefData(t)
	v := testenv.RefStage2Vision(t)
	ran := 0
	for _, kind := range []string{"video", "image"} {
		med, ok := v.Media[kind]
		if !ok {
			continue
		}
		buf, err := os.ReadFile(filepath.Join(dir, "stage2_tiny_"+kind+"_io.safetensors"))
		if os.IsNotExist(err) {
			t.Logf("%s batch: not in this set", kind)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Run(kind, func(t *testing.T) {
			if !med.AttentionMask {
				t.Fatalf("mask %q: only the attention (semantic) mask is implemented", med.Mask)
			}
			st, err := safetensors.Deserialize(buf)
			if err != nil {
				t.Fatal(err)
			}
			attn, shape := refTensor(t, st, "draw.mask.attn")
			if len(shape) != 2 || shape[0] != med.B*med.T {
				t.Fatalf("draw.mask.attn has shape %v, want [B·T = %d, HW]", shape, med.B*med.T)
			}
			rows, hw := shape[0], shape[1]
			nVis := VisibleCount(hw, med.MaskRatio)
			if want := max(med.NVisPerFrame, med.NVis/med.T); nVis != want {
				t.Fatalf("VisibleCount(%d, %v) = %d, manifest says %d", hw, med.MaskRatio, nVis, want)
			}
			noise, _ := refTensor(t, st, "draw.mask.exp_noise")
			vis, err := FromNoise(f32(attn), f32(noise), rows, hw, nVis)
			if err != nil {
				t.Fatal(err)
			}
			imp, _ := refTensor(t, st, "draw.mask.importance")
			keys, _ := Keys(f32(attn), f32(noise))
			for r := 0; r < rows; r++ {
				got := Order(keys[r*hw : (r+1)*hw])
				for i, g := range got {
					if float64(g) != imp[r*hw+i] {
						t.Fatalf("row %d: importance %v differs from the reference at %d", r, got, i)
					}
				}
			}
			want, _ := refTensor(t, st, "mask.bool_masked_pos")
			var got []float64
			for b := 0; b < med.B; b++ {
				for _, m := range BoolMask(vis[b*med.T:(b+1)*med.T], hw) {
					got = append(got, float64(m))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("bool_masked_pos differs from the reference")
			}
		})
		ran++
	}
	if ran == 0 {
		t.Fatalf("%s holds no stage-2 batch", dir)
	}
}
