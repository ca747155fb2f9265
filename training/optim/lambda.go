package optim

import (
	"fmt"
	"math"
)

// WarmupCosine is stage 2's learning-rate multiplier (multi_modality utils/scheduler.py,
// get_cosine_schedule_with_warmup under torch's LambdaLR, stepped once per iteration): the
// learning rate of iteration s (0-based) is base_lr·Multiplier(s), with
//
//	s < Warmup:  max(MinMulti, s / max(1, Warmup))
//	otherwise:   max(MinMulti, ½(1 + cos(π·Cycles·2·p))),  p = (s − Warmup) / max(1, Total − Warmup)
//
// So the first step already runs at base_lr·MinMulti (not 0), and past Total the cosine rises
// again, as the official code does (UMT.md §10.11).
type WarmupCosine struct {
	Warmup, Total int     // iterations
	MinMulti      float64 // min_lr_multi (0.01)
	Cycles        float64 // num_cycles (0.5: a half cosine)
}

// NewWarmupCosine is the schedule of a run of epochs × itersPerEpoch iterations with
// warmupEpochs of warmup and half a cosine.
func NewWarmupCosine(epochs, warmupEpochs, itersPerEpoch int, minMulti float64) (WarmupCosine, error) {
	s := WarmupCosine{Warmup: warmupEpochs * itersPerEpoch, Total: epochs * itersPerEpoch, MinMulti: minMulti, Cycles: 0.5}
	if itersPerEpoch <= 0 || epochs <= 0 || warmupEpochs < 0 || s.Warmup > s.Total {
		return s, fmt.Errorf("optim: schedule of %d epochs (%d warmup) × %d iterations is empty or warms up past its end", epochs, warmupEpochs, itersPerEpoch)
	}
	if !(minMulti >= 0 && minMulti <= 1) {
		return s, fmt.Errorf("optim: min_lr_multi %v must lie in [0, 1]", minMulti)
	}
	return s, nil
}

// Multiplier is the factor of iteration step (0-based) in float64, computed in the official
// order of operations.
func (s WarmupCosine) Multiplier(step int) float64 {
	if step < s.Warmup {
		return math.Max(s.MinMulti, float64(step)/float64(max(1, s.Warmup)))
	}
	progress := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
	return math.Max(s.MinMulti, 0.5*(1.0+math.Cos(math.Pi*s.Cycles*2.0*progress)))
}
