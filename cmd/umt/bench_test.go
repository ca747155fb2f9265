package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// benchJSON runs umt with args (which include --json) and decodes the result.
func benchJSON(t *testing.T, args ...string) benchResult {
	t.Helper()
	var code int
	var out string
	stderr := captureStderr(t, func() { code, out = capture(t, args...) })
	if code != 0 {
		t.Fatalf("umt %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), code, stderr, out)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("umt %s: output is not one JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return r
}

// checkResult asserts what every run's report must hold: the iterations asked for, ordered
// quantiles, positive throughput per clip, frame and core (or GPU), and the machine.
func checkResult(t *testing.T, r benchResult, mode string, iterations, framesPerClip int) {
	t.Helper()
	if r.Mode != mode || r.Iterations != iterations || len(r.IterationsS) != iterations {
		t.Errorf("mode %q, %d iterations (%d times); want %q and %d", r.Mode, r.Iterations, len(r.IterationsS), mode, iterations)
	}
	if !(r.P10S > 0 && r.P10S <= r.MedianS && r.MedianS <= r.P90S) {
		t.Errorf("quantiles p10 %v, median %v, p90 %v are not positive and ordered", r.P10S, r.MedianS, r.P90S)
	}
	if !(r.ClipsPerS > 0) || math.Abs(r.FramesPerS-r.ClipsPerS*float64(framesPerClip)) > 1e-6*r.FramesPerS {
		t.Errorf("clips/s %v, frames/s %v; want positive with %d frames a clip", r.ClipsPerS, r.FramesPerS, framesPerClip)
	}
	perUnit := r.ClipsPerSPerCore
	if r.GPUs > 0 {
		perUnit = r.ClipsPerSPerGPU
	} else if r.Threads <= 0 || math.Abs(perUnit*float64(r.Threads)-r.ClipsPerS) > 1e-9*r.ClipsPerS {
		t.Errorf("clips/s per core %v × %d threads ≠ clips/s %v", perUnit, r.Threads, r.ClipsPerS)
	}
	if !(perUnit > 0) {
		t.Errorf("throughput per core or GPU %v", perUnit)
	}
	if _, ok := processCPU(); ok && r.GPUs == 0 && !(r.ClipsPerCPUS > 0) {
		t.Errorf("a CPU run reports clips per CPU second %v", r.ClipsPerCPUS)
	}
	if r.Machine.Cores <= 0 || r.Machine.CPU == "" || r.Backend == "" || r.Device == "" {
		t.Errorf("machine %+v, backend %q, device %q: want the CPU, cores and backend named", r.Machine, r.Backend, r.Device)
	}
}

// TestBenchTeacherJSONHasPositiveThroughput is the command docs/BENCHMARKS.md shows, at the
// tiny teacher's size so it runs in a second.
func TestBenchTeacherJSONHasPositiveThroughput(t *testing.T) {
	r := benchJSON(t, "bench", "teacher", "--config", "tiny", "--iterations", "2", "--json")
	checkResult(t, r, "teacher", 2, 8)
	if !strings.Contains(r.Workload, "width 64") {
		t.Errorf("workload %q does not describe the tiny teacher", r.Workload)
	}
}

// TestBenchModesRunAtTinySizes runs every mode with tiny sizes, flags before and after the
// positional arguments, on the CPU with one thread.
func TestBenchModesRunAtTinySizes(t *testing.T) {
	r := benchJSON(t, "bench", "step", "--config", "tiny", "--batch", "1", "--iterations", "2", "--threads", "1", "--device", "cpu", "--json")
	checkResult(t, r, "step", 2, 4)
	if r.Threads != 1 || !(r.GFLOPS > 0) {
		t.Errorf("step on 1 thread: threads %d, GFLOP/s %v", r.Threads, r.GFLOPS)
	}

	r = benchJSON(t, "bench", "teacher", "--config", "tiny", "--size", "40", "--frames", "2", "--batch", "3",
		"--iterations", "1", "--warmup", "0", "--threads", "1", "--json")
	checkResult(t, r, "teacher", 1, 2)

	// The bundled sample holds one truncated video: it is left out and named with its class.
	r = benchJSON(t, "bench", "decode", "--input", "../../testdata/sample/manifest.jsonl",
		"--size", "32", "--frames", "2", "--iterations", "1", "--threads", "2", "--json")
	checkResult(t, r, "decode", 1, 2)
	left := 0
	for _, n := range r.Notes {
		if strings.HasPrefix(n, "left out (truncated)") && strings.Contains(n, "truncated_05pct_moovend.mp4") {
			left++
		}
	}
	if left != 1 || r.Threads != 2 {
		t.Errorf("decode of the sample: notes %q, %d workers; want the truncated file left out and 2 workers", r.Notes, r.Threads)
	}

	r = benchJSON(t, "bench", "decode", "../../testdata/videos/synthetic/h264_tiny_64x48_10fps.mp4",
		"--size", "32", "--frames", "3", "--iterations", "2", "--threads", "1", "--json")
	checkResult(t, r, "decode", 2, 3)
	if !strings.Contains(r.Workload, "1 clip ×") {
		t.Errorf("workload %q: want one clip", r.Workload)
	}
}

// TestBenchBadFlagValuesNameTheFix: a value no run can use is a usage error (exit 2) whose
// message names the value that works.
func TestBenchBadFlagValuesNameTheFix(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "teacher", "--threads", "-1"}, "--threads 0 for all cores"},
		{[]string{"bench", "teacher", "--config", "b32"}, "use tiny, b16 or l16"},
		{[]string{"bench", "teacher", "--config", "tiny", "--teacher", "w.safetensors"}, "drop --config"},
		{[]string{"bench", "teacher", "--precision", "fp8"}, "use fp32, tf32 or bf16"},
		{[]string{"bench", "teacher", "--frames", "0"}, "--frames 1 or more"},
		{[]string{"bench", "step", "--iterations", "0", "--duration", "0s"}, "--duration 10s or --iterations 5"},
		{[]string{"bench", "step", "--batch", "0"}, "--batch 1 or more"},
		{[]string{"bench", "step", "--config", "tiny", "--set", "mask_ratio=1"}, "--set mask_ratio=0.8"},
		{[]string{"bench", "decode", "--device", "cuda", "x.mp4"}, "--device cpu"},
		{[]string{"bench", "decode", "--frames", "-2", "x.mp4"}, "--frames"},
		{[]string{"bench", "decode", "--warmup", "-1"}, "--warmup 0 or more"},
	} {
		var code int
		stderr := captureStderr(t, func() { code, _ = capture(t, c.args...) })
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("umt %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

func TestQuantileInterpolates(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	for q, want := range map[float64]float64{0: 1, 0.1: 2, 0.5: 6, 0.9: 10, 1: 11} {
		if got := quantile(s, q); math.Abs(got-want) > 1e-12 {
			t.Errorf("quantile(1..11, %v) = %v, want %v", q, got, want)
		}
	}
	if got := quantile([]float64{1, 2}, 0.5); got != 1.5 {
		t.Errorf("median of {1, 2} = %v, want 1.5", got)
	}
	if got := quantile([]float64{3}, 0.9); got != 3 {
		t.Errorf("p90 of {3} = %v", got)
	}
}
