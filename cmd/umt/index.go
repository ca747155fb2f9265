package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/umt-dev/umt/pipelines/export"
	"github.com/umt-dev/umt/transforms/index"
)

func init() {
	register(&Command{Path: "index", Short: "approximate-nearest-neighbour index over an export (FAISS)", group: true, Exec: groupExec("index"),
		Long: `Builds a FAISS index over the embeddings of an 'umt export' and searches it by clip id.
The index file is FAISS's own (faiss.read_index opens it); ids.txt maps its ids to clip ids;
recall.json reports recall@10 against exact search.

Examples:
  umt index build --input /data/emb --output /data/emb-index
  umt index search --index /data/emb-index --input /data/emb --id CLIP_ID --k 10`})

	var (
		in, out, factory        string
		ef, efc, nprobe, sample int
		target                  float64
	)
	register(&Command{
		Path:  "index build",
		Short: "build a FAISS index (ids, recall report) over an export",
		Long: `Reads every embedding of an export (--input, written by 'umt export') and builds a FAISS
index of inner product (cosine: the vectors are L2-normalised) in --output: index.faiss
(FAISS's writer: faiss.read_index opens it, FAISS ids are row numbers), ids.txt (line n is the
clip id of FAISS id n) and recall.json (recall@10 of the index against exact search over
--recall-queries rows spread over the export, the build time, and the milliseconds per query of
the index and of exact search over the same queries).

--factory auto (the default) makes an exact index (Flat) up to 200 000 rows and HNSW32 above:
with Debian's FAISS build, exact search of 100 000 × 512 takes a second to build and a few ms
per query in batches, while an HNSW graph over them takes many minutes to build.

The search breadth (HNSW efSearch, IVF nprobe) is tuned unless fixed: Build tries powers of two
and keeps the smallest whose recall@10 reaches --target-recall; the index file carries it.
The breadth a graph or IVF index needs depends on the data: structureless vectors (uniform
random in high dimension) are the worst case, where no index beats exact search (--factory
Flat); recall.json's query_ms beside exact_query_ms says which case an index is in
(docs/bench/export.md).

Examples:
  umt index build --input /data/emb --output /data/emb-index
  umt index build --input /data/emb --output /data/emb-hnsw --factory HNSW32 --target-recall 0.95 --ef-construction 80
  umt index build --input /data/emb --output /data/emb-ivf --factory IVF1024,Flat --recall-queries 2000
  umt index build --input /data/emb --output /data/emb-exact --factory Flat   # exact at any size`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&in, "input", "", "the export to index (required)")
			fs.StringVar(&out, "output", "", "index directory, local (required)")
			fs.StringVar(&factory, "factory", "auto", "FAISS index_factory string (IDMap is prepended); auto: Flat (exact) up to 200000 rows, HNSW32 above")
			fs.IntVar(&ef, "ef-search", 0, "HNSW search breadth written into the index (0: tuned to --target-recall)")
			fs.IntVar(&nprobe, "nprobe", 0, "IVF lists searched, written into the index (0: tuned to --target-recall)")
			fs.IntVar(&efc, "ef-construction", 0, "HNSW build breadth (0: FAISS's 40; higher builds a better graph, more slowly)")
			fs.Float64Var(&target, "target-recall", 0.9, "recall@10 against exact search the tuned breadth must reach")
			fs.IntVar(&sample, "recall-queries", 1000, "queries of the recall check")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("index build takes no positional arguments (got %q)", args)
			}
			if in == "" || out == "" {
				return usagef("--input (an export) and --output (the index directory) are required")
			}
			_, rows, err := export.ReadEmbeddings(context.Background(), in)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return fmt.Errorf("%s holds no embeddings", in)
			}
			d := len(rows[0].Embedding)
			vecs, ids := make([]float32, 0, len(rows)*d), make([]string, len(rows))
			for i, r := range rows {
				vecs, ids[i] = append(vecs, r.Embedding...), r.ClipID
			}
			if !(target > 0 && target <= 1) {
				return usagef("--target-recall %v must lie in (0, 1]: --target-recall 0.9", target)
			}
			rep, err := index.Build(out, vecs, d, ids, index.Options{Factory: factory, EfSearch: ef, NProbe: nprobe,
				EfConstruction: efc, TargetRecall: target, Sample: sample})
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "index: %d vectors of %d in %s (%s), built in %.1f s; recall@%d %.4f over %d queries at %.3f ms/query (exact search %.3f ms/query)\n",
				rep.Rows, rep.Dim, out, rep.Factory, rep.BuildS, rep.K, rep.Recall, rep.Queries, rep.QueryMS, rep.ExactQueryMS)
			if rep.Tuned && rep.Recall < target {
				fmt.Fprintf(os.Stderr, "index: recall@%d %.4f stays below --target-recall %v at the largest breadth tried; these vectors may have too little structure for %s: try --factory Flat (exact)\n",
					rep.K, rep.Recall, target, rep.Factory)
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		},
	})

	var (
		dir, exp, id string
		k, efs, nps  int
	)
	register(&Command{
		Path:  "index search",
		Short: "nearest clips of a clip, by id",
		Long: `Looks up --id's embedding in the export (--input) and prints the --k nearest clips in the
index as JSON lines {"id", "score"} (inner product; the clip itself first).

Examples:
  umt index search --index /data/emb-index --input /data/emb --id CLIP_ID --k 10
  umt index search --index /data/emb-index --input /data/emb --id CLIP_ID --ef-search 256
  umt index search --index /data/emb-ivf --input /data/emb --id CLIP_ID --nprobe 64`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "index", "", "index directory written by 'umt index build' (required)")
			fs.StringVar(&exp, "input", "", "the export the query clip is in (required)")
			fs.StringVar(&id, "id", "", "clip id of the query (required)")
			fs.IntVar(&k, "k", 10, "neighbours")
			fs.IntVar(&efs, "ef-search", 0, "HNSW search breadth (default: the one chosen at build)")
			fs.IntVar(&nps, "nprobe", 0, "IVF lists searched (default: the one chosen at build)")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("index search takes no positional arguments (got %q)", args)
			}
			if dir == "" || exp == "" || id == "" || k <= 0 {
				return usagef("--index, --input and --id are required, --k positive")
			}
			_, rows, err := export.ReadEmbeddings(context.Background(), exp)
			if err != nil {
				return err
			}
			var q []float32
			for _, r := range rows {
				if r.ClipID == id {
					q = r.Embedding
				}
			}
			if q == nil {
				return fmt.Errorf("clip %q is not in the export %s", id, exp)
			}
			if efs > 0 && nps > 0 {
				return usagef("--ef-search (HNSW) and --nprobe (IVF) name the breadth of different indexes: give one")
			}
			s, err := index.Open(dir, max(efs, nps))
			if err != nil {
				return err
			}
			defer s.Close()
			hits, err := s.Search(q, k)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			for _, h := range hits[0] {
				if err := enc.Encode(h); err != nil {
					return err
				}
			}
			return nil
		},
	})
}
