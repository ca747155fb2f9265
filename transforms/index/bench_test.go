package index

import (
	"os"
	"strconv"
	"testing"
)

// BenchmarkBuild builds an HNSW32 index over UMT_BENCH_ROWS (default 100000) random unit
// vectors of 512 and reports the build time and recall@10 over 1000 queries against exact
// search (docs/BENCHMARKS.md).
func BenchmarkBuild(b *testing.B) {
	n := 100_000
	if s := os.Getenv("UMT_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const d = 512
	vecs, ids := randomUnit(n, d, 3), clipIDs(n)
	for i := 0; i < b.N; i++ {
		rep, err := Build(b.TempDir(), vecs, d, ids, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.BuildS, "build_s")
		b.ReportMetric(rep.Recall, "recall@10")
	}
}
