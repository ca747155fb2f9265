package main

// umt bench: the project's own micro-benchmarks, run in-process on this machine, so a user can
// size a cluster before a run. Each mode times the workload its `go test -bench` counterpart
// times (clip.Bench, stage1.StepBench, video.Sample over files); this file holds what the modes
// share: flags, the timing loop, statistics and the report.

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/umt-dev/umt/kernels"
)

func init() {
	register(&Command{Path: "bench", Short: "measure this machine's throughput: decode, teacher, training step", group: true,
		Long: `Runs the project's own micro-benchmarks in this process and prints the time per iteration
(median, p10, p90) and the throughput in clips/s, per core and per GPU, with the machine and
backend, so you can size a cluster before a run: workers = target clips/s ÷ clips/s per worker.
Each mode times the same code as its 'go test -bench' counterpart (docs/BENCHMARKS.md).

Examples:
  umt bench decode --threads 2
  umt bench teacher --config b16 --device auto
  umt bench step --config tiny --iterations 5 --json`,
		Exec: groupExec("bench")})
}

// benchFlags are the flags every bench mode takes.
type benchFlags struct {
	device, precision           string
	threads, warmup, iterations int
	duration                    time.Duration
	asJSON                      bool
}

// declare declares the common flags; cpuOnly is for decode, which runs on the CPU whatever
// the device (FFmpeg software decoding) and has no GEMM.
func (b *benchFlags) declare(fs *flag.FlagSet, cpuOnly bool) {
	b.precision = "fp32"
	if cpuOnly {
		fs.StringVar(&b.device, "device", "auto", "auto or cpu: decoding runs on the CPU (FFmpeg software decoding)")
		fs.IntVar(&b.threads, "threads", 0, "decode workers, one clip each at a time (0 = one per core)")
	} else {
		fs.StringVar(&b.device, "device", "auto", "compute backend: auto (the GPU when one works, else the CPU), cpu, cuda or cuda:N")
		fs.StringVar(&b.precision, "precision", "fp32", "GEMM precision on a GPU: fp32, tf32 or bf16 (the CPU computes in float32)")
		fs.IntVar(&b.threads, "threads", 0, "CPU threads (0 = all cores)")
	}
	fs.IntVar(&b.warmup, "warmup", 1, "untimed iterations first (workspace allocation, caches)")
	fs.IntVar(&b.iterations, "iterations", 0, "timed iterations (0 = as many as --duration allows, at least one)")
	fs.DurationVar(&b.duration, "duration", 10*time.Second, "time to spend on timed iterations when --iterations is 0")
	fs.BoolVar(&b.asJSON, "json", false, "print the result as one JSON object")
}

// check rejects values no run can use, naming the flag value that works.
func (b *benchFlags) check() error {
	switch {
	case b.threads < 0:
		return usagef("--threads %d: give a number of threads >= 1, or --threads 0 for all cores", b.threads)
	case b.warmup < 0:
		return usagef("--warmup %d: give --warmup 0 or more", b.warmup)
	case b.iterations < 0:
		return usagef("--iterations %d: give --iterations 1 or more, or --iterations 0 to run for --duration", b.iterations)
	case b.iterations == 0 && b.duration <= 0:
		return usagef("--duration %v with --iterations 0 times nothing: give --duration 10s or --iterations 5", b.duration)
	}
	if _, err := kernels.ParsePrecision(b.precision); err != nil {
		return usagef("--precision: %v", err)
	}
	return nil
}

// open opens the device through the one opener, with --threads and --precision.
func (b *benchFlags) open() (*kernels.Device, error) {
	p, _ := kernels.ParsePrecision(b.precision) // checked
	return kernels.Open(b.device, kernels.Options{Threads: b.threads, Precision: p})
}

// benchWork is what one mode times: run is one iteration, which processes clips clips of frames
// frames in all and flops floating-point operations (0 when not counted).
type benchWork struct {
	run           func() error
	clips, frames int
	flops         float64
}

// timing is what measure saw: each timed iteration's wall time, and the process's CPU time
// over all of them (0 where unknown).
type timing struct {
	iters []time.Duration
	cpu   time.Duration
}

// measure runs warmup untimed iterations, then iterations timed ones, or as many as fit in
// duration (at least one) when iterations is 0.
func measure(w benchWork, f *benchFlags) (timing, error) {
	for i := 0; i < f.warmup; i++ {
		if err := w.run(); err != nil {
			return timing{}, fmt.Errorf("warm-up iteration %d: %w", i+1, err)
		}
	}
	var t timing
	start := time.Now()
	cpu0, cpuOK := processCPU()
	for f.iterations > 0 && len(t.iters) < f.iterations || f.iterations == 0 && (len(t.iters) == 0 || time.Since(start) < f.duration) {
		t0 := time.Now()
		if err := w.run(); err != nil {
			return timing{}, fmt.Errorf("iteration %d: %w", len(t.iters)+1, err)
		}
		t.iters = append(t.iters, time.Since(t0))
	}
	if cpu1, ok := processCPU(); ok && cpuOK {
		t.cpu = cpu1 - cpu0
	}
	return t, nil
}

// benchResult is the report of one run; --json prints it as is.
type benchResult struct {
	Mode     string      `json:"mode"`     // decode, teacher or step
	Workload string      `json:"workload"` // what one iteration does
	Machine  machineInfo `json:"machine"`
	Backend  string      `json:"backend"` // the backend's Name(), or FFmpeg for decode
	// Device is "cpu" or "cuda"; Threads the CPU threads the run used (0 on a GPU); GPUs the
	// GPUs it used.
	Device  string `json:"device"`
	Threads int    `json:"threads"`
	GPUs    int    `json:"gpus"`
	Warmup  int    `json:"warmup"`

	Iterations  int       `json:"iterations"`
	IterationsS []float64 `json:"iteration_s"` // every timed iteration, in order
	MedianS     float64   `json:"median_s"`
	P10S        float64   `json:"p10_s"`
	P90S        float64   `json:"p90_s"`
	// Throughputs over all timed iterations (total work ÷ total time).
	ClipsPerS        float64 `json:"clips_per_s"`
	FramesPerS       float64 `json:"frames_per_s"`
	ClipsPerSPerCore float64 `json:"clips_per_s_per_core,omitempty"` // CPU runs: ÷ Threads
	ClipsPerSPerGPU  float64 `json:"clips_per_s_per_gpu,omitempty"`  // GPU runs: ÷ GPUs
	// ClipsPerCPUS is clips per second of this process's CPU time (user+system): on a machine
	// shared with other work it is the steadier per-core figure; CPU runs only.
	ClipsPerCPUS float64 `json:"clips_per_cpu_s,omitempty"`
	GFLOPS       float64 `json:"gflop_per_s,omitempty"` // step: 3× forward matmul FLOPs
	// Notes say what the run left out (inputs that failed to decode) and how the device was
	// chosen.
	Notes []string `json:"notes,omitempty"`
}

// machineInfo names the machine a figure belongs to.
type machineInfo struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	OS         string `json:"os"`
	Go         string `json:"go"`
}

func thisMachine() machineInfo {
	model, _, _ := readCPUInfo()
	if model == "" {
		model = "unknown " + runtime.GOARCH
	}
	return machineInfo{CPU: model, Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
}

// summarize fills r's statistics from the timed iterations of w.
func (r *benchResult) summarize(w benchWork, t timing) {
	times := t.iters
	var total time.Duration
	r.Iterations = len(times)
	r.IterationsS = make([]float64, len(times))
	for i, t := range times {
		r.IterationsS[i] = t.Seconds()
		total += t
	}
	sorted := slices.Clone(r.IterationsS)
	slices.Sort(sorted)
	r.MedianS, r.P10S, r.P90S = quantile(sorted, 0.5), quantile(sorted, 0.1), quantile(sorted, 0.9)
	sec := total.Seconds()
	r.ClipsPerS = float64(w.clips*len(times)) / sec
	r.FramesPerS = float64(w.frames*len(times)) / sec
	if r.Threads > 0 {
		r.ClipsPerSPerCore = r.ClipsPerS / float64(r.Threads)
	}
	if r.GPUs > 0 {
		r.ClipsPerSPerGPU = r.ClipsPerS / float64(r.GPUs)
	} else if t.cpu > 0 {
		r.ClipsPerCPUS = float64(w.clips*len(times)) / t.cpu.Seconds()
	}
	if w.flops > 0 {
		r.GFLOPS = w.flops * float64(len(times)) / sec / 1e9
	}
}

// quantile interpolates linearly between the order statistics of sorted (non-empty).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// deviceFields records which device ran the work.
func (r *benchResult) deviceFields(d *kernels.Device) {
	r.Backend, r.Device, r.Threads = d.Backend.Name(), d.Kind, d.Threads
	if d.Kind == kernels.KindCUDA {
		r.GPUs = 1
	}
	r.Notes = append(r.Notes, "device: "+d.Reason)
}

// print writes r as JSON or as a table a person reads.
func (r *benchResult) print(asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	m := r.Machine
	fmt.Fprintf(stdout, "umt bench %s: %s\n", r.Mode, r.Workload)
	fmt.Fprintf(stdout, "machine: %s, %d cores (GOMAXPROCS %d), %s, %s\n", m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.Go)
	fmt.Fprintf(stdout, "backend: %s\n\n", r.Backend)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "iterations\tmedian s\tp10 s\tp90 s\tclips/s\tframes/s\t"
	row := fmt.Sprintf("%d\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t", r.Iterations, r.MedianS, r.P10S, r.P90S, r.ClipsPerS, r.FramesPerS)
	if r.GPUs > 0 {
		head += "clips/s/GPU\t"
		row += fmt.Sprintf("%.4g\t", r.ClipsPerSPerGPU)
	} else {
		head += fmt.Sprintf("clips/s/core (%d)\t", r.Threads)
		row += fmt.Sprintf("%.4g\t", r.ClipsPerSPerCore)
		if r.ClipsPerCPUS > 0 {
			head += "clips/CPU-s\t"
			row += fmt.Sprintf("%.4g\t", r.ClipsPerCPUS)
		}
	}
	if r.GFLOPS > 0 {
		head += "GFLOP/s\t"
		row += fmt.Sprintf("%.4g\t", r.GFLOPS)
	}
	fmt.Fprintln(tw, head)
	fmt.Fprintln(tw, row)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	return nil
}

// plural writes "1 clip" or "3 clips".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// existingFile reports whether p names a regular file.
func existingFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// joinNames lists names as "a, b or c".
func joinNames(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
