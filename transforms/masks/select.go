package masks

import "fmt"

// Selector picks the teacher tokens a dataset layout stores for each clip: every token (layout
// "full", Masks = 0), or the union of the visible tokens of Masks semantic masks drawn with
// Sample (layout "visible:M"). Draw m of a clip uses NewStream(Seed, clip id, −1, m), so the
// masks depend only on the run seed and the clip, never on bundling or order.
type Selector struct {
	Frames int     // T
	HW     int     // tokens per frame
	Masks  int     // M pre-drawn masks; 0 stores every token
	Ratio  float64 // mask ratio (UMT's 0.8)
	Seed   uint64  // run seed
}

// Selection is what one clip stores.
type Selection struct {
	Tokens []int   // stored token indices t·HW + p, ascending
	Masks  []int32 // the M masks' visible token indices, [M, T, V] flattened; nil for Masks = 0
}

// Select draws clipID's masks from its CLS attention attn ([Frames, HW]) and returns the tokens
// to store.
func (s Selector) Select(clipID string, attn []float32) (Selection, error) {
	if s.Frames <= 0 || s.HW <= 0 || len(attn) != s.Frames*s.HW {
		return Selection{}, fmt.Errorf("masks: attn has %d values, want frames·hw = %d·%d", len(attn), s.Frames, s.HW)
	}
	if s.Masks <= 0 {
		tokens := make([]int, s.Frames*s.HW)
		for i := range tokens {
			tokens[i] = i
		}
		return Selection{Tokens: tokens}, nil
	}
	var sel Selection
	draws := make([][][]int, s.Masks)
	for m := range draws {
		var err error
		draws[m], err = Sample(attn, s.Frames, s.HW, s.Ratio, NewStream(s.Seed, clipID, -1, m))
		if err != nil {
			return Selection{}, fmt.Errorf("drawing semantic mask %d: %w", m, err)
		}
		for _, t := range TokenIndex(draws[m], s.HW) {
			sel.Masks = append(sel.Masks, int32(t))
		}
	}
	sel.Tokens = TokenIndex(Union(draws...), s.HW)
	return sel, nil
}

// Features is a teacher's output for a batch: Layers × Clips × Tokens × Dim float32 values,
// in that order.
type Features struct {
	Data                       []float32
	Layers, Clips, Tokens, Dim int
}

// Gather returns the selected tokens' features of clip b, [Layers, len(Tokens), Dim].
func (s Selection) Gather(f Features, b int) ([]float32, error) {
	if len(f.Data) != f.Layers*f.Clips*f.Tokens*f.Dim || b < 0 || b >= f.Clips {
		return nil, fmt.Errorf("masks: features hold %d values for %d×%d×%d×%d (clip %d)", len(f.Data), f.Layers, f.Clips, f.Tokens, f.Dim, b)
	}
	D := f.Dim
	out := make([]float32, 0, f.Layers*len(s.Tokens)*D)
	for k := 0; k < f.Layers; k++ {
		base := (k*f.Clips + b) * f.Tokens * D
		for _, t := range s.Tokens {
			if t < 0 || t >= f.Tokens {
				return nil, fmt.Errorf("masks: token %d outside [0, %d)", t, f.Tokens)
			}
			out = append(out, f.Data[base+t*D:base+(t+1)*D]...)
		}
	}
	return out, nil
}
