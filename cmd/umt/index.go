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
		in, out, factory string
		ef, sample       int
	)
	register(&Command{
		Path:  "index build",
		Short: "build a FAISS index (ids, recall report) over an export",
		Long: `Reads every embedding of an export (--input, written by 'umt export') and builds a FAISS
index of inner product (cosine: the vectors are L2-normalised) in --output: index.faiss
(FAISS's writer: faiss.read_index opens it, FAISS ids are row numbers), ids.txt (line n is the
clip id of FAISS id n) and recall.json (recall@10 of the index against exact search over
--recall-queries rows spread over the export, and the build time).

Examples:
  umt index build --input /data/emb --output /data/emb-index
  umt index build --input /data/emb --output /data/emb-ivf --factory IVF1024,Flat --recall-queries 2000`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&in, "input", "", "the export to index (required)")
			fs.StringVar(&out, "output", "", "index directory, local (required)")
			fs.StringVar(&factory, "factory", "HNSW32", "FAISS index_factory string (IDMap is prepended)")
			fs.IntVar(&ef, "ef-search", 64, "HNSW search breadth, recorded with the index")
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
			rep, err := index.Build(out, vecs, d, ids, index.Options{Factory: factory, EfSearch: ef, Sample: sample})
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "index: %d vectors of %d in %s (%s), built in %.1f s; recall@%d %.4f over %d queries\n",
				rep.Rows, rep.Dim, out, rep.Factory, rep.BuildS, rep.K, rep.Recall, rep.Queries)
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		},
	})

	var (
		dir, exp, id string
		k, efs       int
	)
	register(&Command{
		Path:  "index search",
		Short: "nearest clips of a clip, by id",
		Long: `Looks up --id's embedding in the export (--input) and prints the --k nearest clips in the
index as JSON lines {"id", "score"} (inner product; the clip itself first).

Examples:
  umt index search --index /data/emb-index --input /data/emb --id CLIP_ID --k 10
  umt index search --index /data/emb-index --input /data/emb --id CLIP_ID --ef-search 256`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "index", "", "index directory written by 'umt index build' (required)")
			fs.StringVar(&exp, "input", "", "the export the query clip is in (required)")
			fs.StringVar(&id, "id", "", "clip id of the query (required)")
			fs.IntVar(&k, "k", 10, "neighbours")
			fs.IntVar(&efs, "ef-search", 0, "HNSW search breadth (default: the one recorded at build)")
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
			s, err := index.Open(dir, efs)
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
