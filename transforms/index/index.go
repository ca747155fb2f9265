package index

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of an index directory.
const (
	IndexFile  = "index.faiss"
	IDsFile    = "ids.txt"     // line n: the clip id of FAISS id n
	RecallFile = "recall.json" // Report
)

// Options choose the index and its recall check.
type Options struct {
	// Factory is a FAISS index_factory string without the IDMap prefix; "" or "auto" picks
	// Flat (exact) up to FlatRows rows and HNSW32 above.
	Factory string
	// EfConstruction is HNSW's build breadth (default 40, FAISS's): higher builds a better
	// graph, more slowly.
	EfConstruction int
	// EfSearch (HNSW) or NProbe (IVF) fixes the search breadth written into the index; 0 tunes
	// it: the smallest power of two whose recall@K on the sample reaches TargetRecall.
	EfSearch, NProbe int
	TargetRecall     float64 // recall@K the tuning aims for (default 0.9)
	Sample           int     // queries of the recall check, spread over the rows (default 1000)
	K                int     // recall@K (default 10)
}

// Tuning ladders: the search breadth doubles from the first value up to the last.
const (
	efSearchFrom, efSearchMax = 16, 4096
	nprobeFrom                = 1
)

// FlatRows is the largest index "auto" makes exact. With Debian's libfaiss (generic x86-64,
// scalar distance loops) exact search of 100k×512 runs on BLAS at ~2–5 ms per query in
// batches, while HNSW32 needed a 19-minute build (shared 2-vCPU machine) and efSearch 2048 (~100 ms per query) for
// recall@10 0.9 on structureless vectors (docs/bench/export.md).
const FlatRows = 200_000

func (o Options) withDefaults(rows int) Options {
	if o.Factory == "" || o.Factory == "auto" {
		o.Factory = "HNSW32"
		if rows <= FlatRows {
			o.Factory = "Flat"
		}
	}
	if o.TargetRecall <= 0 {
		o.TargetRecall = 0.9
	}
	if o.Sample <= 0 {
		o.Sample = 1000
	}
	if o.K <= 0 {
		o.K = 10
	}
	return o
}

// Report is recall.json: how the index was built, how well it finds the exact neighbours and
// what a query costs beside exact search.
type Report struct {
	Factory        string  `json:"factory"`
	Metric         string  `json:"metric"`
	Rows           int     `json:"rows"`
	Dim            int     `json:"dim"`
	EfConstruction int     `json:"ef_construction,omitempty"` // HNSW
	EfSearch       int     `json:"ef_search,omitempty"`       // HNSW
	NProbe         int     `json:"nprobe,omitempty"`          // IVF
	Tuned          bool    `json:"tuned"`                     // the breadth was chosen for TargetRecall
	TargetRecall   float64 `json:"target_recall,omitempty"`
	BuildS         float64 `json:"build_s"`
	Queries        int     `json:"recall_queries"`
	K              int     `json:"k"`
	Recall         float64 `json:"recall_at_k"` // mean over queries of |approx top-k ∩ exact top-k| / k
	// QueryMS and ExactQueryMS are wall milliseconds per query of the recall queries searched
	// as one batch, in the index and in an exact (flat) index of the same vectors.
	QueryMS      float64 `json:"query_ms"`
	ExactQueryMS float64 `json:"exact_query_ms"`
}

// breadth names the search parameter of a factory string: "efSearch" (HNSW), "nprobe" (IVF)
// or "" (none, e.g. Flat).
func breadth(factory string) string {
	switch { // IVF first: "IVF4096_HNSW32,Flat" searches nprobe lists
	case strings.Contains(factory, "IVF"):
		return "nprobe"
	case strings.Contains(factory, "HNSW"):
		return "efSearch"
	}
	return ""
}

// Build indexes vecs (len(ids) rows of d values, L2-normalised: inner product is cosine) into
// dir with its ids and a recall report.
func Build(dir string, vecs []float32, d int, ids []string, o Options) (Report, error) {
	n := len(ids)
	o = o.withDefaults(n)
	if n == 0 || len(vecs) != n*d {
		return Report{}, fmt.Errorf("index: %d values for %d rows of %d", len(vecs), n, d)
	}
	for _, id := range ids {
		if strings.ContainsAny(id, "\n\r") {
			return Report{}, fmt.Errorf("index: clip id %q holds a line break", id)
		}
	}
	rows := make([]int64, n)
	for i := range rows {
		rows[i] = int64(i)
	}
	start := time.Now()
	approx, err := buildFaiss(vecs, d, rows, "IDMap,"+o.Factory, o.EfConstruction)
	if err != nil {
		return Report{}, err
	}
	defer approx.Close()
	rep := Report{Factory: "IDMap," + o.Factory, Metric: "inner_product", Rows: n, Dim: d,
		BuildS: time.Since(start).Seconds(), K: min(o.K, n), Queries: min(o.Sample, n), EfConstruction: approx.EfConstruction()}
	if err := checkRecall(approx, vecs, rows, o, &rep); err != nil {
		return Report{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Report{}, err
	}
	if err := approx.Write(filepath.Join(dir, IndexFile)); err != nil {
		return Report{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, IDsFile), []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		return Report{}, err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	return rep, os.WriteFile(filepath.Join(dir, RecallFile), append(b, '\n'), 0o644)
}

func buildFaiss(vecs []float32, d int, rows []int64, factory string, efConstruction int) (*Faiss, error) {
	f, err := NewFaiss(d, factory, true)
	if err != nil {
		return nil, err
	}
	if efConstruction > 0 {
		if err := f.SetEfConstruction(efConstruction); err != nil {
			f.Close()
			return nil, err
		}
	}
	if !f.Trained() {
		if err := f.Train(vecs); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Add(vecs, rows); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkRecall searches rep.Queries rows spread evenly over vecs in an exact (flat) index and
// in approx, sets approx's search breadth (the fixed one, or the smallest power of two whose
// recall@K reaches the target) and fills rep's breadth, recall and per-query costs.
func checkRecall(approx *Faiss, vecs []float32, rows []int64, o Options, rep *Report) error {
	n, d, q, k := len(rows), rep.Dim, rep.Queries, rep.K
	queries := make([]float32, 0, q*d)
	for i := 0; i < q; i++ {
		r := i * n / q
		queries = append(queries, vecs[r*d:(r+1)*d]...)
	}
	exact, err := buildFaiss(vecs, d, rows, "IDMap,Flat", 0)
	if err != nil {
		return err
	}
	defer exact.Close()
	want, ms, err := timedSearch(exact, queries, q, k)
	if err != nil {
		return err
	}
	rep.ExactQueryMS = ms
	measure := func() error {
		got, ms, err := timedSearch(approx, queries, q, k)
		rep.Recall, rep.QueryMS = overlap(want, got, q, k), ms
		return err
	}
	param := breadth(o.Factory)
	fixed, from, top := o.EfSearch, efSearchFrom, efSearchMax
	if param == "nprobe" {
		fixed, from, top = o.NProbe, nprobeFrom, 1<<16 // FAISS clamps nprobe to nlist: recall reaches 1
	}
	if param == "" || fixed > 0 {
		if fixed > 0 && param != "" {
			if err := approx.Set(param, float64(fixed)); err != nil {
				return err
			}
		}
		rep.setBreadth(param, fixed)
		return measure()
	}
	rep.Tuned, rep.TargetRecall = true, o.TargetRecall
	for v := from; ; v *= 2 {
		if err := approx.Set(param, float64(v)); err != nil {
			return err
		}
		rep.setBreadth(param, v)
		if err := measure(); err != nil || rep.Recall >= o.TargetRecall || rep.Recall == 1 || v >= top {
			return err
		}
	}
}

func (r *Report) setBreadth(param string, v int) {
	switch param {
	case "efSearch":
		r.EfSearch = v
	case "nprobe":
		r.NProbe = v
	}
}

// timedSearch returns the top k of q queries and the wall milliseconds per query.
func timedSearch(f *Faiss, queries []float32, q, k int) ([]int64, float64, error) {
	start := time.Now()
	got, _, err := f.Search(queries, k)
	return got, time.Since(start).Seconds() * 1e3 / float64(q), err
}

// overlap is the mean over q queries of |got top-k ∩ want top-k| / k.
func overlap(want, got []int64, q, k int) float64 {
	hits := 0
	for i := 0; i < q; i++ {
		set := map[int64]bool{}
		for _, id := range want[i*k : (i+1)*k] {
			set[id] = true
		}
		for _, id := range got[i*k : (i+1)*k] {
			if set[id] {
				hits++
			}
		}
	}
	return float64(hits) / float64(q*k)
}

// Searcher answers queries with clip ids.
type Searcher struct {
	f   *Faiss
	ids []string
}

// Hit is one neighbour.
type Hit struct {
	ID    string  `json:"id"`
	Score float32 `json:"score"` // inner product (cosine for normalised vectors)
}

// Open reads an index directory written by Build. The index file carries the search breadth
// Build chose; breadth (when positive) overrides it: efSearch of an HNSW index, nprobe of an
// IVF index.
func Open(dir string, breadthOverride int) (*Searcher, error) {
	f, err := ReadFaiss(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, err
	}
	var rep Report
	if b, err := os.ReadFile(filepath.Join(dir, RecallFile)); err == nil {
		_ = json.Unmarshal(b, &rep)
	}
	if param := breadth(rep.Factory); breadthOverride > 0 && param != "" {
		if err := f.Set(param, float64(breadthOverride)); err != nil {
			f.Close()
			return nil, err
		}
	}
	fh, err := os.Open(filepath.Join(dir, IDsFile))
	if err != nil {
		f.Close()
		return nil, err
	}
	defer fh.Close()
	s := &Searcher{f: f}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		s.ids = append(s.ids, sc.Text())
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, err
	}
	if int64(len(s.ids)) != f.Len() {
		f.Close()
		return nil, fmt.Errorf("index %s: %d ids for %d vectors", dir, len(s.ids), f.Len())
	}
	return s, nil
}

// Dim is the vectors' dimension.
func (s *Searcher) Dim() int { return s.f.Dim() }

// Close frees the index.
func (s *Searcher) Close() { s.f.Close() }

// Search returns the k nearest clips of each query (rows of Dim values).
func (s *Searcher) Search(q []float32, k int) ([][]Hit, error) {
	labels, dist, err := s.f.Search(q, k)
	if err != nil {
		return nil, err
	}
	out := make([][]Hit, len(labels)/k)
	for i := range out {
		for j := 0; j < k; j++ {
			l := labels[i*k+j]
			if l < 0 || int(l) >= len(s.ids) {
				continue
			}
			out[i] = append(out[i], Hit{ID: s.ids[l], Score: dist[i*k+j]})
		}
	}
	return out, nil
}
