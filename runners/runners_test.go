package runners

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/runners/runnertest"
)

func TestMain(m *testing.M) {
	// Loopback workers leave a temp file per run (DEPENDENCIES.md gotcha 8): keep them out of /tmp.
	dir, err := os.MkdirTemp("", "runners-test-")
	if err == nil {
		os.Setenv("TMPDIR", dir)
	}
	code := m.Run()
	if err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func TestValidate(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	dataflow := Settings{Runner: Dataflow, Project: "p", Region: "r", StagingLocation: "gs://b/s", SDKContainerImage: "img", WorkerBinary: self}
	tests := []struct {
		name string
		s    Settings
		want string // "" = valid
	}{
		{"default in-process prism", Settings{}, ""},
		{"prism in-process ignores env", Settings{Runner: Prism}, ""},
		{"universal loopback", Settings{Runner: Universal, Endpoint: "localhost:8099", EnvironmentType: "LOOPBACK"}, ""},
		{"universal needs endpoint", Settings{Runner: Universal}, "needs --endpoint"},
		{"flink docker needs image", Settings{Runner: Flink, Endpoint: "jm:8099"}, "--environment_config=IMAGE"},
		{"flink docker needs worker", Settings{Runner: Flink, Endpoint: "jm:8099", EnvironmentType: "DOCKER", EnvironmentConfig: "img"}, "make worker"},
		{"flink docker ok", Settings{Runner: Flink, Endpoint: "jm:8099", EnvironmentType: "DOCKER", EnvironmentConfig: "img", WorkerBinary: self}, ""},
		{"external prism needs worker", Settings{Runner: Prism, Endpoint: "localhost:8073", EnvironmentType: "EXTERNAL", EnvironmentConfig: "localhost:5000"}, "--worker_binary"},
		{"bad env", Settings{Runner: Universal, Endpoint: "x:1", EnvironmentType: "K8S"}, "unknown --environment_type"},
		{"dataflow ok", dataflow, ""},
		{"dataflow missing all", Settings{Runner: Dataflow}, "--project=PROJECT"},
		{"dataflow local staging", func() Settings { s := dataflow; s.StagingLocation = "/tmp/s"; return s }(), "--staging_location=gs://"},
		{"dataflow no image", func() Settings { s := dataflow; s.SDKContainerImage = ""; return s }(), "--sdk_container_image"},
		{"dataflow no worker", func() Settings { s := dataflow; s.WorkerBinary = ""; return s }(), "make worker"},
		{"dataflow worker missing", func() Settings { s := dataflow; s.WorkerBinary = "/nonexistent/umt"; return s }(), "does not exist"},
		{"dataflow worker not elf", func() Settings { s := dataflow; s.WorkerBinary = text; return s }(), "not a Linux executable"},
		{"dataflow temp local", func() Settings { s := dataflow; s.TempLocation = "/tmp"; return s }(), "must be a gs:// path"},
		{"direct", Settings{Runner: "direct"}, "deprecated"},
		{"unknown", Settings{Runner: "spork"}, "unknown --runner"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCurrentReadsBeamFlags(t *testing.T) {
	restore, err := SetFlags(map[string]string{"runner": "flink", "endpoint": "jm:8099", "environment_type": "loopback", "staging_location": "gs://x"})
	if err != nil {
		t.Fatal(err)
	}
	s := Current(context.Background())
	restore()
	want := Settings{Runner: Flink, Endpoint: "jm:8099", EnvironmentType: "LOOPBACK", StagingLocation: "gs://x"}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Current = %+v, want %+v", s, want)
	}
	if !s.Loopback() || s.InProcess() {
		t.Fatalf("loopback/in-process wrong for %+v", s)
	}
	if s := Current(context.Background()); s.Runner != "" || s.Endpoint != "" {
		t.Fatalf("restore did not restore: %+v", s)
	}
	if _, err := SetFlags(map[string]string{"no_such_flag_x": "1"}); err == nil {
		t.Fatal("SetFlags accepted an unknown flag")
	}
}

// squareFn counts elements and records their squares in a distribution.
type squareFn struct {
	Namespace string
	elems     beam.Counter
	values    beam.Distribution
}

func (f *squareFn) Setup() {
	f.elems = beam.NewCounter(f.Namespace, "elems")
	f.values = beam.NewDistribution(f.Namespace, "squares")
}

func (f *squareFn) ProcessElement(ctx context.Context, x int, emit func(int)) {
	f.elems.Inc(ctx, 1)
	f.values.Update(ctx, int64(x*x))
	emit(x * x)
}

func init() { register.DoFn3x0[context.Context, int, func(int)](&squareFn{}); register.Emitter1[int]() }

func squares(n int) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i + 1
	}
	col := beam.Reshuffle(s, beam.CreateList(s, xs))
	beam.ParDo(s, &squareFn{Namespace: "test"}, col)
	return p
}

func checkSquares(t *testing.T, res *Result, n int) {
	t.Helper()
	if got := res.Counter("test", "elems"); got != int64(n) {
		t.Errorf("counter test/elems = %d, want %d (all counters: %v)", got, n, res.Counters)
	}
	var sum int64
	for i := 1; i <= n; i++ {
		sum += int64(i * i)
	}
	want := Distribution{Count: int64(n), Sum: sum, Min: 1, Max: int64(n * n)}
	if got := res.Dist("test", "squares"); got != want {
		t.Errorf("distribution = %+v, want %+v", got, want)
	}
	if names := res.Names("test"); !reflect.DeepEqual(names, []string{"test/elems", "test/squares"}) {
		t.Errorf("Names = %v", names)
	}
}

func TestRunInProcess(t *testing.T) {
	res, err := Run(context.Background(), squares(50))
	if err != nil {
		t.Fatal(err)
	}
	if res.Runner != Prism {
		t.Errorf("runner %q", res.Runner)
	}
	checkSquares(t, res, 50)
}

// TestRunPortable submits to a standalone Prism job server with --runner=universal and the
// LOOPBACK environment: the path a Flink job server takes.
func TestRunPortable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a Prism job server")
	}
	endpoint := runnertest.StartPrism(t)
	for _, runner := range []string{Universal, Flink} {
		restore, err := SetFlags(map[string]string{"runner": runner, "endpoint": endpoint, "environment_type": "LOOPBACK"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), squares(30))
		restore()
		if err != nil {
			t.Fatalf("%s: %v", runner, err)
		}
		if res.Runner != runner || res.JobID == "" {
			t.Errorf("runner %q job %q", res.Runner, res.JobID)
		}
		checkSquares(t, res, 30)
	}
}

func TestRunRejectsBadFlagsBeforeSubmitting(t *testing.T) {
	restore, err := SetFlags(map[string]string{"runner": "dataflow", "project": "", "region": ""})
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "none.json"))
	t.Setenv("CLOUDSDK_COMPUTE_REGION", "")
	_, err = Run(context.Background(), squares(1))
	if err == nil || !strings.Contains(err.Error(), "--runner=dataflow needs") {
		t.Fatalf("got %v", err)
	}
}

func TestIsWorkerInvocation(t *testing.T) {
	for args, want := range map[string]bool{"--worker=true --id=1": true, "-worker": true, "prep --input x": false, "": false} {
		if got := IsWorkerInvocation(strings.Fields(args)); got != want {
			t.Errorf("%q: %v", args, got)
		}
	}
}
