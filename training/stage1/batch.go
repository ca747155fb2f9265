package stage1

import (
	"fmt"
	"sort"

	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/masks"
)

// CheckDataset reports whether a dataset's shapes fit the model.
func CheckDataset(c Config, p schemas.Provenance) error {
	m := c.Model
	if !p.HasTeacher() {
		return fmt.Errorf("stage1: the dataset holds frames only (layout %s): add the teacher's features with umt prep --phase=teacher --input DATASET --output NEW --teacher T, and train on NEW", p.Layout)
	}
	grid := isqrt(p.HW)
	switch {
	case p.Frames != m.Frames:
		return fmt.Errorf("stage1: dataset has %d frames per clip, the model %d; use --set model.frames=%d", p.Frames, m.Frames, p.Frames)
	case p.Size != m.ImgSize || p.HW != m.HW():
		fix := fmt.Sprintf("rebuild the dataset with umt prep --size %d", m.ImgSize)
		if grid > 0 && grid*grid == p.HW && p.Size%grid == 0 {
			fix = fmt.Sprintf("use --set model.img_size=%d --set model.patch=%d", p.Size, p.Size/grid)
		}
		return fmt.Errorf("stage1: dataset frames are %d px on a %d×%d teacher grid, the model takes %d px in patches of %d (a %d×%d grid); %s", p.Size, grid, grid, m.ImgSize, m.Patch, m.Grid(), m.Grid(), fix)
	case p.K != m.ReturnLayers:
		fix := fmt.Sprintf("--set model.return_layers=%d", p.K)
		if p.K > m.Depth {
			fix += fmt.Sprintf(" --set model.depth=%d", p.K)
		}
		return fmt.Errorf("stage1: dataset stores %d teacher layers, the model aligns %d (model.return_layers); use %s", p.K, m.ReturnLayers, fix)
	case p.D != m.ClipDim:
		return fmt.Errorf("stage1: teacher features have %d dims, the model's heads output %d (model.clip_dim); use --set model.clip_dim=%d", p.D, m.ClipDim, p.D)
	case p.MaskRatio != c.MaskRatio:
		return fmt.Errorf("stage1: dataset was prepared for mask ratio %v, the config says %v; use --set mask_ratio=%v", p.MaskRatio, c.MaskRatio, p.MaskRatio)
	}
	lay, err := schemas.ParseLayout(p.Layout)
	if err != nil {
		return err
	}
	switch c.Masks {
	case MasksSample:
		if lay.Visible {
			return fmt.Errorf("stage1: masks %q needs teacher features at every token but the dataset layout is %s; use --set masks=%s (or --set masks=%s)", MasksSample, p.Layout, MasksAmong, MasksStored)
		}
	case MasksStored:
		if p.Masks == 0 {
			return fmt.Errorf("stage1: masks %q but the dataset stores no masks; use --set masks=%s", MasksStored, MasksSample)
		}
	}
	return nil
}

// isqrt is the integer square root of n (0 when n < 1).
func isqrt(n int) int {
	g := 0
	for (g+1)*(g+1) <= n {
		g++
	}
	return g
}

// Visible picks the visible patch indices per frame ([T][nVis], ascending) of one clip in an
// epoch, by the config's mask mode; see the Masks* constants.
func Visible(c Config, p schemas.Provenance, r *schemas.ClipRow, epoch int) ([][]int, error) {
	T, hw := p.Frames, p.HW
	s := masks.NewStream(c.Seed, r.ClipID, epoch, 0)
	switch c.Masks {
	case MasksStored:
		M, V := p.Masks, p.VisiblePerFrame()
		pick := int(s.Uint64() % uint64(M))
		out := make([][]int, T)
		for t := 0; t < T; t++ {
			for _, tok := range r.Masks[(pick*T+t)*V : (pick*T+t+1)*V] {
				out[t] = append(out[t], int(tok)-t*hw)
			}
		}
		return out, nil
	case MasksAmong:
		stored := make([][]int, T)
		for _, tok := range r.TeacherTokens {
			stored[int(tok)/hw] = append(stored[int(tok)/hw], int(tok)%hw)
		}
		return masks.SampleAmong(schemas.Float32s(nil, r.TeacherCLSAttn), stored, hw, masks.VisibleCount(hw, c.MaskRatio), s)
	default:
		return masks.Sample(schemas.Float32s(nil, r.TeacherCLSAttn), T, hw, c.MaskRatio, s)
	}
}

// BuildBatch turns rows into the student's batch for one step: visible tokens, normalised
// patches gathered straight from the uint8 frames, and teacher targets [K, B, nv, D] at those
// tokens.
func BuildBatch(c Config, p schemas.Provenance, rows []schemas.ClipRow, epoch int) (vit.Batch, error) {
	m := c.Model
	B := len(rows)
	b := vit.Batch{B: B}
	var nv int
	perClip := make([][]float32, 0, B) // targets per clip [K, nv, D]
	for i := range rows {
		r := &rows[i]
		vis, err := Visible(c, p, r, epoch)
		if err != nil {
			return b, fmt.Errorf("clip %s: %w", r.ClipID, err)
		}
		toks := masks.TokenIndex(vis, p.HW)
		if i == 0 {
			nv = len(toks)
		} else if len(toks) != nv {
			return b, fmt.Errorf("clip %s has %d visible tokens, the batch %d", r.ClipID, len(toks), nv)
		}
		t32 := make([]int32, len(toks))
		for j, t := range toks {
			t32[j] = int32(t)
		}
		b.Tokens = append(b.Tokens, t32...)
		b.Patches = append(b.Patches, vit.PatchesFromFrames(m, r.Frames, t32)...)
		tg, err := Targets(p, r, toks)
		if err != nil {
			return b, fmt.Errorf("clip %s: %w", r.ClipID, err)
		}
		perClip = append(perClip, tg)
	}
	K, D := p.K, p.D
	b.Targets = make([]float32, K*B*nv*D)
	for i, tg := range perClip {
		for k := 0; k < K; k++ {
			copy(b.Targets[((k*B+i)*nv)*D:((k*B+i+1)*nv)*D], tg[k*nv*D:(k+1)*nv*D])
		}
	}
	return b, nil
}

// Targets gathers the stored teacher features at tokens: [K, len(tokens), D] float32.
func Targets(p schemas.Provenance, r *schemas.ClipRow, tokens []int) ([]float32, error) {
	K, D, n := p.K, p.D, len(r.TeacherTokens)
	out := make([]float32, 0, K*len(tokens)*D)
	pos := make([]int, len(tokens))
	for i, t := range tokens {
		j := sort.Search(n, func(j int) bool { return int(r.TeacherTokens[j]) >= t })
		if j == n || int(r.TeacherTokens[j]) != t {
			return nil, fmt.Errorf("token %d has no stored teacher feature", t)
		}
		pos[i] = j
	}
	for k := 0; k < K; k++ {
		for _, j := range pos {
			out = schemas.Float32s(out, r.TeacherFeatures[(k*n+j)*D:(k*n+j+1)*D])
		}
	}
	return out, nil
}
