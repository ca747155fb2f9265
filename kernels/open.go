package kernels

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Options configures the backend [Open] returns. A field a backend has no use for is ignored.
type Options struct {
	// Threads is the number of host threads one operation of the CPU backend uses; 0 means
	// runtime.GOMAXPROCS(0). The GPU backend ignores it.
	Threads int
	// Precision is the GEMM compute path on a GPU (default FP32). The CPU always computes in
	// float32.
	Precision Precision
	// PureGo makes the CPU backend use its pure-Go GEMM even where OpenBLAS is linked
	// (cross-checks, benchmarks).
	PureGo bool
}

// Precision selects the compute path of float32 GEMMs on a GPU. Operands and results stay
// float32 in memory in every case; accumulation is always float32.
type Precision int

const (
	// FP32 is exact float32: the parity reference, slowest.
	FP32 Precision = iota
	// TF32 rounds GEMM inputs to TF32 (10-bit mantissa) on tensor cores.
	TF32
	// BF16 rounds GEMM inputs to bfloat16 (8-bit mantissa) on tensor cores, the training path,
	// as PyTorch's bf16 autocast.
	BF16
)

func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case TF32:
		return "tf32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision maps "fp32" (or "") | "tf32" | "bf16" to a Precision.
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fp32", "":
		return FP32, nil
	case "tf32":
		return TF32, nil
	case "bf16":
		return BF16, nil
	}
	return 0, fmt.Errorf("unknown GEMM precision %q; use fp32, tf32 or bf16", s)
}

// The backend kinds [Open] knows. Their packages register themselves when linked.
const (
	KindCPU  = "cpu"  // kernels/cpu: host memory, OpenBLAS or pure-Go GEMM; always built
	KindCUDA = "cuda" // kernels/cuda: one NVIDIA GPU, libraries loaded at run time
)

// Opener opens one kind of backend. ordinal is N of "cuda:N" (0 when the spec names none).
type Opener func(ordinal int, o Options) (Backend, error)

var registry struct {
	sync.Mutex
	open map[string]Opener
}

// Register makes a backend kind available to [Open]; kernels/cpu and kernels/cuda call it from
// their init functions, so linking a backend package (a blank import in the binary's main
// package) is what makes its kind openable. Registering a kind twice panics.
func Register(kind string, open Opener) {
	registry.Lock()
	defer registry.Unlock()
	if registry.open == nil {
		registry.open = map[string]Opener{}
	}
	if _, dup := registry.open[kind]; dup {
		panic("kernels: backend " + kind + " registered twice")
	}
	registry.open[kind] = open
}

func opener(kind string) (Opener, error) {
	registry.Lock()
	defer registry.Unlock()
	if o := registry.open[kind]; o != nil {
		return o, nil
	}
	var linked []string
	for k := range registry.open {
		linked = append(linked, k)
	}
	sort.Strings(linked)
	have := strings.Join(linked, ", ")
	if have == "" {
		have = "none"
	}
	return nil, fmt.Errorf("the %s backend is not linked into this program (linked: %s); the main package must import _ \"github.com/umt-dev/umt/kernels/%s\"",
		kind, have, kind)
}

// Device is a backend [Open] chose, with what a log line and a caller need to know about it.
type Device struct {
	Backend Backend
	// Kind is KindCPU or KindCUDA.
	Kind string
	// Ordinal is the GPU number (KindCUDA); 0 on the CPU.
	Ordinal int
	// Threads is the number of host threads one operation uses on the CPU; 0 on a GPU.
	Threads int
	// Reason is one line for the logs: the backend's name and why it was chosen, e.g.
	// "cpu(openblas, 1 threads) (--device=auto: GPU not used: cuda: cannot find the CUDA driver ...)".
	Reason string
}

// Trainer returns the backend as a [Trainer] (forward and backward passes), or an error naming
// the backend when it has no backward pass.
func (d *Device) Trainer() (Trainer, error) {
	if t, ok := d.Backend.(Trainer); ok {
		return t, nil
	}
	return nil, fmt.Errorf("%s has no backward pass and cannot train", d.Backend.Name())
}

// Close releases the backend's resources (a GPU context and its memory); a no-op on the CPU.
// It reports buffers that were never freed as an error, where the backend tracks them.
func (d *Device) Close() error {
	if c, ok := d.Backend.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// Open returns the backend a --device spec names:
//
//	auto (or "")   the GPU 0 when it can be used, else the CPU; Reason says why the GPU is not used
//	cpu            the CPU
//	cuda, gpu      GPU 0; an error with the reason when it cannot be used
//	cuda:N         GPU N
//
// o applies to whichever backend is chosen (Threads to the CPU, including auto's fallback;
// Precision to the GPU). Spec is case-insensitive. Close the Device when done.
func Open(spec string, o Options) (*Device, error) {
	s := strings.ToLower(strings.TrimSpace(spec))
	switch {
	case s == "" || s == "auto":
		d, gpuErr := open(KindCUDA, 0, o)
		if gpuErr == nil {
			d.Reason = d.Backend.Name() + " (--device=auto found a GPU)"
			return d, nil
		}
		d, err := open(KindCPU, 0, o)
		if err != nil {
			return nil, fmt.Errorf("--device=auto: the GPU cannot be used (%v) and %w", gpuErr, err)
		}
		d.Reason = fmt.Sprintf("%s (--device=auto: GPU not used: %v)", d.Backend.Name(), gpuErr)
		return d, nil
	case s == KindCPU:
		d, err := open(KindCPU, 0, o)
		if err != nil {
			return nil, fmt.Errorf("--device=%s: %w", spec, err)
		}
		d.Reason = d.Backend.Name() + " (--device=cpu)"
		return d, nil
	case s == KindCUDA || s == "gpu" || strings.HasPrefix(s, KindCUDA+":"):
		n := 0
		if rest, found := strings.CutPrefix(s, KindCUDA+":"); found {
			var err error
			if n, err = strconv.Atoi(rest); err != nil || n < 0 {
				return nil, fmt.Errorf("--device=%s: the GPU ordinal must be a number >= 0, as in cuda:0", spec)
			}
		}
		d, err := open(KindCUDA, n, o)
		if err != nil {
			return nil, fmt.Errorf("--device=%s: %w (use --device=auto to fall back to the CPU)", spec, err)
		}
		d.Reason = d.Backend.Name()
		return d, nil
	}
	return nil, fmt.Errorf("unknown --device=%q; use auto, cpu, cuda or cuda:N", spec)
}

func open(kind string, ordinal int, o Options) (*Device, error) {
	op, err := opener(kind)
	if err != nil {
		return nil, err
	}
	be, err := op(ordinal, o)
	if err != nil {
		return nil, err
	}
	if be == nil {
		return nil, errors.New(kind + ": the backend's opener returned nothing")
	}
	d := &Device{Backend: be, Kind: kind, Ordinal: ordinal}
	if t, ok := be.(interface{ Threads() int }); ok && kind == KindCPU {
		d.Threads = t.Threads()
	}
	return d, nil
}
