package models

import "strings"

// Param is one trainable tensor inside a model's flat parameter buffer.
type Param struct {
	Name  string // official state-dict name
	Shape []int  // official shape ([out, in] for Linear)
	Decay bool   // weight decay applies (UMT's optimisers: ≥2-D and not ending in ".bias")
	Off   int    // first element in the flat buffer
	Len   int    // number of elements
}

// Layout completes tensors listed in official order (Name and Shape set): Len from the shape,
// Decay by UMT's rule (stage 1's get_parameter_groups and stage 2's create_optimizer agree: no
// decay for 1-D tensors and names ending in ".bias"), and offsets group by group, every decayed
// tensor first (official order) and then the rest, so each optimiser group is one contiguous
// range of the flat buffer. It returns ps.
func Layout(ps []Param) []Param {
	for i := range ps {
		n := 1
		for _, d := range ps[i].Shape {
			n *= d
		}
		ps[i].Len = n
		ps[i].Decay = len(ps[i].Shape) > 1 && !strings.HasSuffix(ps[i].Name, ".bias")
	}
	off := 0
	for _, decay := range []bool{true, false} {
		for i := range ps {
			if ps[i].Decay == decay {
				ps[i].Off = off
				off += ps[i].Len
			}
		}
	}
	return ps
}
