package index

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// randomUnit returns n random L2-normalised vectors of d values.
func randomUnit(n, d int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n*d)
	for i := 0; i < n; i++ {
		var ss float64
		for j := 0; j < d; j++ {
			x := rng.NormFloat64()
			v[i*d+j] = float32(x)
			ss += x * x
		}
		for j := 0; j < d; j++ {
			v[i*d+j] /= float32(math.Sqrt(ss))
		}
	}
	return v
}

func clipIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("clip-%06d", i)
	}
	return ids
}

// TestSearchReturnsIDsWithStatedRecall: an HNSW index over random unit vectors finds each
// vector itself first (by clip id), and its recall@10 against exact search, written beside the
// index, is at least 0.9.
func TestSearchReturnsIDsWithStatedRecall(t *testing.T) {
	const n, d = 3000, 32
	vecs, ids := randomUnit(n, d, 1), clipIDs(n)
	dir := t.TempDir()
	rep, err := Build(dir, vecs, d, ids, Options{Factory: "HNSW32", Sample: 200})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recall < 0.9 || rep.Queries != 200 || rep.K != 10 || rep.Rows != n {
		t.Errorf("report %+v: want recall@10 ≥ 0.9 over 200 queries", rep)
	}
	var onDisk Report
	if b, err := os.ReadFile(filepath.Join(dir, RecallFile)); err != nil || json.Unmarshal(b, &onDisk) != nil || onDisk != rep {
		t.Errorf("recall.json %+v (err %v), want %+v", onDisk, err, rep)
	}
	s, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range []int{0, 17, n - 1} {
		hits, err := s.Search(vecs[r*d:(r+1)*d], 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || len(hits[0]) != 5 || hits[0][0].ID != ids[r] || math.Abs(float64(hits[0][0].Score)-1) > 1e-4 {
			t.Errorf("search of row %d: %+v; want %s first with score 1", r, hits, ids[r])
		}
	}
	if _, err := Build(t.TempDir(), vecs[:d], d, []string{"a\nb"}, Options{}); err == nil {
		t.Error("a clip id with a line break was indexed; ids.txt could not map it back")
	}
}

// TestPythonFaissOpensIndex: Debian's python3-faiss reads the index file and returns the same
// neighbours (FAISS ids = lines of ids.txt) as our search.
func TestPythonFaissOpensIndex(t *testing.T) {
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import faiss, numpy").Run() != nil {
		t.Skip("python3-faiss is not installed; scripts/setup.sh installs it for this test")
	}
	const n, d, k = 500, 16, 5
	vecs, ids := randomUnit(n, d, 2), clipIDs(n)
	dir := t.TempDir()
	if _, err := Build(dir, vecs, d, ids, Options{Factory: "HNSW32", Sample: 50}); err != nil {
		t.Fatal(err)
	}
	q := vecs[:3*d]
	raw := make([]byte, 0, len(q)*4)
	for _, v := range q {
		b := math.Float32bits(v)
		raw = append(raw, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
	}
	qf := filepath.Join(dir, "q.f32")
	if err := os.WriteFile(qf, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`import faiss, numpy, sys
ix = faiss.read_index(%q)
faiss.ParameterSpace().set_index_parameter(ix, "efSearch", 64)
q = numpy.fromfile(%q, dtype="<f4").reshape(-1, %d)
_, I = ix.search(q, %d)
print(ix.ntotal, " ".join(str(i) for i in I.ravel()))`, filepath.Join(dir, IndexFile), qf, d, k)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python3-faiss: %v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	s, err := Open(dir, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hits, err := s.Search(q, k)
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, h := range hits {
		for _, x := range h {
			ours = append(ours, strings.TrimPrefix(x.ID, "clip-"))
		}
	}
	var theirs []string
	for _, f := range fields[1:] {
		var i int
		fmt.Sscan(f, &i)
		theirs = append(theirs, fmt.Sprintf("%06d", i))
	}
	if fields[0] != fmt.Sprint(n) || !slices.Equal(ours, theirs) {
		t.Errorf("python3-faiss: ntotal %s, neighbours %v; ours %v", fields[0], theirs, ours)
	}
}

// TestTunedBreadthReachesTargetRecall: with no fixed breadth, Build picks the smallest power of
// two whose recall@10 reaches the target, the index file carries it (a search through Open
// finds the same share of the exact neighbours), and a smaller breadth would have missed it.
func TestTunedBreadthReachesTargetRecall(t *testing.T) {
	const n, d, q = 4000, 64, 200
	vecs, ids := randomUnit(n, d, 5), clipIDs(n)
	for _, tc := range []struct {
		factory string
		breadth func(Report) int
		from    int
	}{
		{"HNSW16", func(r Report) int { return r.EfSearch }, efSearchFrom},
		{"IVF64,Flat", func(r Report) int { return r.NProbe }, nprobeFrom},
	} {
		t.Run(tc.factory, func(t *testing.T) {
			dir := t.TempDir()
			rep, err := Build(dir, vecs, d, ids, Options{Factory: tc.factory, Sample: q, TargetRecall: 0.95})
			if err != nil {
				t.Fatal(err)
			}
			v := tc.breadth(rep)
			t.Logf("%s: breadth %d, recall %.3f, %.3f ms/query (exact %.3f)", tc.factory, v, rep.Recall, rep.QueryMS, rep.ExactQueryMS)
			if !rep.Tuned || rep.Recall < 0.95 || v < tc.from || v&(v-1) != 0 || rep.QueryMS <= 0 || rep.ExactQueryMS <= 0 {
				t.Fatalf("report %+v: want tuned, recall ≥ 0.95 at a power-of-two breadth, positive query costs", rep)
			}
			queries := make([]float32, 0, q*d)
			for i := 0; i < q; i++ {
				queries = append(queries, vecs[(i*n/q)*d:(i*n/q+1)*d]...)
			}
			exact := exactTop(t, vecs, d, queries, 10)
			if got := searchRecall(t, dir, 0, queries, exact); got != rep.Recall {
				t.Errorf("search through Open: recall %v, report %v (the file does not carry breadth %d)", got, rep.Recall, v)
			}
			if v > tc.from {
				if got := searchRecall(t, dir, v/2, queries, exact); got >= 0.95 {
					t.Errorf("breadth %d already reaches recall %v: tuning did not pick the smallest", v/2, got)
				}
			}
		})
	}
}

// TestAutoFactoryIsExactUpToFlatRows: the default index is exact (Flat, recall 1) up to
// FlatRows rows and HNSW32 above.
func TestAutoFactoryIsExactUpToFlatRows(t *testing.T) {
	for _, tc := range []struct {
		rows int
		want string
	}{{1, "Flat"}, {FlatRows, "Flat"}, {FlatRows + 1, "HNSW32"}} {
		for _, f := range []string{"", "auto"} {
			if got := (Options{Factory: f}).withDefaults(tc.rows).Factory; got != tc.want {
				t.Errorf("factory %q over %d rows: %s, want %s", f, tc.rows, got, tc.want)
			}
		}
	}
	const n, d = 500, 16
	rep, err := Build(t.TempDir(), randomUnit(n, d, 4), d, clipIDs(n), Options{Sample: 50})
	if err != nil || rep.Factory != "IDMap,Flat" || rep.Recall != 1 || rep.Tuned {
		t.Errorf("default build: %+v, %v; want exact IDMap,Flat with recall 1", rep, err)
	}
}

// TestFixedBreadthAndEfConstructionAreKept: a fixed efSearch is not tuned and efConstruction
// reaches the HNSW graph; efConstruction of a non-HNSW index is an error.
func TestFixedBreadthAndEfConstructionAreKept(t *testing.T) {
	const n, d = 1000, 16
	vecs, ids := randomUnit(n, d, 6), clipIDs(n)
	rep, err := Build(t.TempDir(), vecs, d, ids, Options{Factory: "HNSW32", EfSearch: 24, EfConstruction: 80, Sample: 50})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tuned || rep.EfSearch != 24 || rep.EfConstruction != 80 || rep.NProbe != 0 {
		t.Errorf("report %+v: want efSearch 24 untuned, efConstruction 80", rep)
	}
	if _, err := Build(t.TempDir(), vecs, d, ids, Options{Factory: "Flat", EfConstruction: 80}); err == nil {
		t.Error("efConstruction on a Flat index was accepted")
	}
	rep, err = Build(t.TempDir(), vecs, d, ids, Options{Factory: "Flat", Sample: 50})
	if err != nil || rep.Recall != 1 || rep.Tuned {
		t.Errorf("Flat: %+v, %v; want exact recall 1 and nothing to tune", rep, err)
	}
}

func exactTop(t *testing.T, vecs []float32, d int, queries []float32, k int) []int64 {
	t.Helper()
	rows := make([]int64, len(vecs)/d)
	for i := range rows {
		rows[i] = int64(i)
	}
	f, err := buildFaiss(vecs, d, rows, "IDMap,Flat", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, _, err := f.Search(queries, k)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// searchRecall opens dir (breadth 0: the recorded one) and returns recall@10 against exact.
func searchRecall(t *testing.T, dir string, breadth int, queries []float32, exact []int64) float64 {
	t.Helper()
	s, err := Open(dir, breadth)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	labels, _, err := s.f.Search(queries, 10)
	if err != nil {
		t.Fatal(err)
	}
	return overlap(exact, labels, len(exact)/10, 10)
}
