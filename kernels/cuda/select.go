package cuda

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
)

// Select returns the backend for the CLI's --device flag and a one-line reason a user can
// read in the logs:
//
//	auto (or "")   the GPU when Open succeeds, else kernels/cpu with the reason the GPU is not used
//	cpu            kernels/cpu
//	cuda, cuda:N   GPU 0 (or N); an error with the reason when it cannot be used
//
// GEMMs run in o.Precision. A CUDA backend should be closed when done: the caller type-asserts
// interface{ Close() error }.
func Select(device string, o Options) (kernels.Backend, string, error) {
	d := strings.ToLower(strings.TrimSpace(device))
	switch {
	case d == "cpu":
		c := cpu.New(cpu.Options{})
		return c, fmt.Sprintf("%s (--device=cpu)", c.Name()), nil
	case d == "" || d == "auto":
		g, err := Open(o)
		if err == nil {
			return g, fmt.Sprintf("%s (--device=auto found a GPU)", g.Name()), nil
		}
		c := cpu.New(cpu.Options{})
		return c, fmt.Sprintf("%s (--device=auto: GPU not used: %v)", c.Name(), err), nil
	case d == "cuda" || d == "gpu" || strings.HasPrefix(d, "cuda:"):
		if rest, found := strings.CutPrefix(d, "cuda:"); found {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 {
				return nil, "", fmt.Errorf("--device=%s: the GPU ordinal must be a number >= 0, as in cuda:0", device)
			}
			o.Device = n
		}
		g, err := Open(o)
		if err != nil {
			return nil, "", fmt.Errorf("--device=%s: %w (use --device=auto to fall back to the CPU)", device, err)
		}
		return g, g.Name(), nil
	}
	return nil, "", fmt.Errorf("unknown --device=%q; use auto, cpu, cuda or cuda:N", device)
}
