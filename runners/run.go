package runners

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx" // registers every runner, the local and gcs filesystems
)

// Distribution is a Beam distribution metric's value.
type Distribution struct {
	Count, Sum, Min, Max int64
}

// Mean is Sum/Count, 0 when empty.
func (d Distribution) Mean() float64 {
	if d.Count == 0 {
		return 0
	}
	return float64(d.Sum) / float64(d.Count)
}

// Result is what a finished job reports.
type Result struct {
	JobID  string
	Runner string
	// Counters and Distributions are keyed "namespace/name", summed over the steps that
	// reported them. Values are the committed ones where the runner reports those (prism,
	// Dataflow), otherwise the attempted ones.
	Counters      map[string]int64
	Distributions map[string]Distribution
}

// Counter returns a counter's value (0 when it was never incremented).
func (r *Result) Counter(namespace, name string) int64 { return r.Counters[namespace+"/"+name] }

// Dist returns a distribution's value.
func (r *Result) Dist(namespace, name string) Distribution {
	return r.Distributions[namespace+"/"+name]
}

// Names lists the metric keys of a namespace, sorted.
func (r *Result) Names(namespace string) []string {
	var out []string
	for k := range r.Counters {
		if len(k) > len(namespace) && k[:len(namespace)+1] == namespace+"/" {
			out = append(out, k)
		}
	}
	for k := range r.Distributions {
		if len(k) > len(namespace) && k[:len(namespace)+1] == namespace+"/" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Init initialises Beam once, after the flags are parsed and before pipeline construction,
// keeping the process's slog handler (beam.Init replaces it with its own).
func Init() {
	if beam.Initialized() {
		return
	}
	keep := slog.Default()
	beam.Init()
	slog.SetDefault(keep)
}

// Run validates the runner flags and runs p to completion, returning its metrics.
func Run(ctx context.Context, p *beam.Pipeline) (*Result, error) {
	Init()
	s := Current(ctx)
	if err := s.Validate(); err != nil {
		return nil, err
	}
	pr, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("%s job failed: %w", s.runnerName(), err)
	}
	res := &Result{Runner: s.runnerName(), Counters: map[string]int64{}, Distributions: map[string]Distribution{}}
	if pr == nil { // --async or a dry run: nothing to read back
		return res, nil
	}
	res.JobID = pr.JobID()
	collect(res, pr.Metrics())
	return res, nil
}

func collect(res *Result, m metrics.Results) {
	all := m.AllMetrics()
	for _, c := range all.Counters() {
		res.Counters[c.Namespace()+"/"+c.Name()] += c.Result()
	}
	for _, d := range all.Distributions() {
		v := d.Result()
		if v.Count == 0 {
			continue
		}
		k := d.Namespace() + "/" + d.Name()
		cur, ok := res.Distributions[k]
		if !ok {
			res.Distributions[k] = Distribution(v)
			continue
		}
		cur.Count += v.Count
		cur.Sum += v.Sum
		cur.Min = min(cur.Min, v.Min)
		cur.Max = max(cur.Max, v.Max)
		res.Distributions[k] = cur
	}
}

// SetFlags sets global flags (Beam's pipeline options) and returns a function that restores
// their previous values; for tests and programs that choose a runner without a command line.
func SetFlags(kv map[string]string) (restore func(), err error) {
	type old struct{ name, value string }
	var saved []old
	restore = func() {
		for i := len(saved) - 1; i >= 0; i-- {
			flag.Set(saved[i].name, saved[i].value)
		}
	}
	names := make([]string, 0, len(kv))
	for k := range kv {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		f := flag.Lookup(k)
		if f == nil {
			restore()
			return nil, fmt.Errorf("no flag --%s is registered", k)
		}
		saved = append(saved, old{k, f.Value.String()})
		if err := flag.Set(k, kv[k]); err != nil {
			restore()
			return nil, err
		}
	}
	return restore, nil
}
