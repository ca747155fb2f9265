package index

import (
	"os"
	"strconv"
	"testing"
)

// BenchmarkBuild builds an index over UMT_BENCH_ROWS (default 100000) random unit vectors of
// 512 and reports the build time, the search breadth tuned to recall@10 ≥ 0.9 over 1000
// queries against exact search, and the per-query cost of both (docs/bench/export.md).
// UMT_BENCH_FACTORY picks the index (default HNSW32), UMT_BENCH_EF_CONSTRUCTION its build
// breadth.
func BenchmarkBuild(b *testing.B) {
	n := 100_000
	if s := os.Getenv("UMT_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	o := Options{Factory: os.Getenv("UMT_BENCH_FACTORY")}
	o.EfConstruction, _ = strconv.Atoi(os.Getenv("UMT_BENCH_EF_CONSTRUCTION"))
	const d = 512
	vecs, ids := randomUnit(n, d, 3), clipIDs(n)
	for i := 0; i < b.N; i++ {
		rep, err := Build(b.TempDir(), vecs, d, ids, o)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%+v", rep)
		b.ReportMetric(rep.BuildS, "build_s")
		b.ReportMetric(rep.Recall, "recall@10")
		b.ReportMetric(float64(max(rep.EfSearch, rep.NProbe)), "breadth")
		b.ReportMetric(rep.QueryMS, "query_ms")
		b.ReportMetric(rep.ExactQueryMS, "exact_query_ms")
	}
}
