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
	Factory  string // FAISS index_factory string without the IDMap prefix (default "HNSW32")
	EfSearch int    // HNSW search breadth recorded with the index (default 64)
	Sample   int    // queries of the recall check, spread over the rows (default 1000)
	K        int    // recall@K (default 10)
}

func (o Options) withDefaults() Options {
	if o.Factory == "" {
		o.Factory = "HNSW32"
	}
	if o.EfSearch <= 0 {
		o.EfSearch = 64
	}
	if o.Sample <= 0 {
		o.Sample = 1000
	}
	if o.K <= 0 {
		o.K = 10
	}
	return o
}

// Report is recall.json: how the index was built and how well it finds the exact neighbours.
type Report struct {
	Factory  string  `json:"factory"`
	Metric   string  `json:"metric"`
	Rows     int     `json:"rows"`
	Dim      int     `json:"dim"`
	EfSearch int     `json:"ef_search"`
	BuildS   float64 `json:"build_s"`
	Queries  int     `json:"recall_queries"`
	K        int     `json:"k"`
	Recall   float64 `json:"recall_at_k"` // mean over queries of |approx top-k ∩ exact top-k| / k
}

// Build indexes vecs (len(ids) rows of d values, L2-normalised: inner product is cosine) into
// dir with its ids and a recall report.
func Build(dir string, vecs []float32, d int, ids []string, o Options) (Report, error) {
	o = o.withDefaults()
	n := len(ids)
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
	approx, err := buildFaiss(vecs, d, rows, "IDMap,"+o.Factory)
	if err != nil {
		return Report{}, err
	}
	defer approx.Close()
	rep := Report{Factory: "IDMap," + o.Factory, Metric: "inner_product", Rows: n, Dim: d, EfSearch: o.EfSearch,
		BuildS: time.Since(start).Seconds(), K: min(o.K, n)}
	if strings.Contains(o.Factory, "HNSW") {
		if err := approx.Set("efSearch", float64(o.EfSearch)); err != nil {
			return Report{}, err
		}
	}
	if rep.Recall, rep.Queries, err = recall(approx, vecs, d, rows, min(o.Sample, n), rep.K); err != nil {
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

func buildFaiss(vecs []float32, d int, rows []int64, factory string) (*Faiss, error) {
	f, err := NewFaiss(d, factory, true)
	if err != nil {
		return nil, err
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

// recall searches q rows spread evenly over vecs in approx and in an exact (flat) index and
// returns the mean share of the exact top-k that approx found.
func recall(approx *Faiss, vecs []float32, d int, rows []int64, q, k int) (float64, int, error) {
	n := len(rows)
	queries := make([]float32, 0, q*d)
	for i := 0; i < q; i++ {
		r := i * n / q
		queries = append(queries, vecs[r*d:(r+1)*d]...)
	}
	exact, err := buildFaiss(vecs, d, rows, "IDMap,Flat")
	if err != nil {
		return 0, 0, err
	}
	defer exact.Close()
	want, _, err := exact.Search(queries, k)
	if err != nil {
		return 0, 0, err
	}
	got, _, err := approx.Search(queries, k)
	if err != nil {
		return 0, 0, err
	}
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
	return float64(hits) / float64(q*k), q, nil
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

// Open reads an index directory written by Build; efSearch (when positive) overrides the
// recorded search breadth of an HNSW index.
func Open(dir string, efSearch int) (*Searcher, error) {
	f, err := ReadFaiss(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, err
	}
	var rep Report
	if b, err := os.ReadFile(filepath.Join(dir, RecallFile)); err == nil && json.Unmarshal(b, &rep) == nil && efSearch <= 0 {
		efSearch = rep.EfSearch
	}
	if efSearch > 0 && strings.Contains(rep.Factory, "HNSW") {
		if err := f.Set("efSearch", float64(efSearch)); err != nil {
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
