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
	rep, err := Build(dir, vecs, d, ids, Options{Sample: 200})
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
	if _, err := Build(dir, vecs, d, ids, Options{Sample: 50}); err != nil {
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
