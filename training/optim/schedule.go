package optim

import (
	"fmt"
	"math"
)

// ScaleLR applies UMT's linear scaling rule: base · globalBatch · numSample / 256
// (run_umt_pretraining.py: lr, min_lr and warmup_lr are all scaled this way).
func ScaleLR(base float64, globalBatch, numSample int) float64 {
	return base * float64(globalBatch*numSample) / 256
}

// Schedule is a per-iteration cosine schedule with linear warmup, as utils.cosine_scheduler:
// iterations [0, Warmup) are linspace(0, Peak, Warmup) (both ends included), then iteration
// Warmup+i of the remaining R = Total − Warmup is Final + ½(Peak − Final)(1 + cos(π·i/R)).
type Schedule struct {
	Peak, Final   float64
	Warmup, Total int // iterations
}

// NewSchedule builds the schedule of a run of epochs with itersPerEpoch iterations and
// warmupEpochs of warmup.
func NewSchedule(peak, final float64, epochs, warmupEpochs, itersPerEpoch int) (Schedule, error) {
	s := Schedule{Peak: peak, Final: final, Warmup: warmupEpochs * itersPerEpoch, Total: epochs * itersPerEpoch}
	if itersPerEpoch <= 0 || epochs <= 0 || warmupEpochs < 0 || s.Warmup >= s.Total {
		return s, fmt.Errorf("optim: schedule of %d epochs (%d warmup) × %d iterations is empty; warmup must be shorter than the run", epochs, warmupEpochs, itersPerEpoch)
	}
	return s, nil
}

// At is the value at iteration it (0-based); past the end it stays at the last value.
func (s Schedule) At(it int) float64 {
	if it >= s.Total {
		it = s.Total - 1
	}
	if it < 0 {
		it = 0
	}
	if it < s.Warmup {
		if s.Warmup == 1 {
			return 0
		}
		return s.Peak * float64(it) / float64(s.Warmup-1)
	}
	i, r := it-s.Warmup, s.Total-s.Warmup
	return s.Final + 0.5*(s.Peak-s.Final)*(1+math.Cos(math.Pi*float64(i)/float64(r)))
}
