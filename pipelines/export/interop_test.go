package export

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
)

// jsParquet is what tools/node/read_parquet.mjs reports for one file.
type jsParquet struct {
	Rows   int `json:"rows"`
	Schema []struct {
		Name       string  `json:"name"`
		Type       *string `json:"type"`
		Repetition *string `json:"repetition"`
	} `json:"schema"`
	Metadata map[string]string `json:"metadata"`
	Data     []struct {
		ClipID     string    `json:"clip_id"`
		SourceURI  string    `json:"source_uri"`
		SpanStartS float64   `json:"span_start_s"`
		SpanEndS   float64   `json:"span_end_s"`
		Caption    *string   `json:"caption"`
		Embedding  []float64 `json:"embedding"`
	} `json:"data"`
}

// TestParquetReadByHyparquet: an independent Parquet reader (hyparquet under Node.js, installed
// by scripts/setup.d/shard.sh) reads every shard of an export: its rows, ids, spans, captions,
// the embedding as a required repeated FLOAT leaf of E values equal to ours, and the metadata.
func TestParquetReadByHyparquet(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; scripts/setup.sh installs Node.js and hyparquet for this test")
	}
	script := filepath.Join(testenv.RepoRoot(t), "tools", "node", "read_parquet.mjs")
	in, _ := framesDataset(t, 3, 2, 32)
	out := t.TempDir()
	runExport(t, in, out, 2)
	idx, want, meta := readExport(t, out)
	var got []schemas.EmbeddingRow
	for _, sh := range idx.Shards {
		b, err := exec.Command(node, script, filepath.Join(out, sh.Name)).Output()
		if err != nil {
			t.Fatalf("node read_parquet.mjs %s: %v (run scripts/setup.sh to install hyparquet)", sh.Name, err)
		}
		var js jsParquet
		if err := json.Unmarshal(b, &js); err != nil {
			t.Fatalf("%v in %s", err, b)
		}
		if js.Rows != int(sh.Rows) || len(js.Data) != js.Rows {
			t.Errorf("%s: hyparquet reads %d rows (%d decoded), the index says %d", sh.Name, js.Rows, len(js.Data), sh.Rows)
		}
		var leaf bool
		for _, s := range js.Schema {
			if s.Name == "element" && s.Type != nil && *s.Type == "FLOAT" && s.Repetition != nil && *s.Repetition == "REQUIRED" {
				leaf = true
			}
		}
		if !leaf {
			t.Errorf("%s: no required FLOAT element leaf in %+v", sh.Name, js.Schema)
		}
		for k, v := range meta {
			if k != "ARROW:schema" && js.Metadata[k] != v {
				t.Errorf("%s: hyparquet reads metadata %s = %q, pqarrow %q", sh.Name, k, js.Metadata[k], v)
			}
		}
		for _, r := range js.Data {
			e := make([]float32, len(r.Embedding))
			for i, v := range r.Embedding {
				e[i] = float32(v)
			}
			c := ""
			if r.Caption != nil {
				c = *r.Caption
			}
			got = append(got, schemas.EmbeddingRow{ClipID: r.ClipID, SourceURI: r.SourceURI, SpanStartS: r.SpanStartS, SpanEndS: r.SpanEndS, Caption: c, Embedding: e})
		}
	}
	if !slices.EqualFunc(got, want, func(a, b schemas.EmbeddingRow) bool {
		return a.ClipID == b.ClipID && a.SourceURI == b.SourceURI && a.SpanStartS == b.SpanStartS && a.SpanEndS == b.SpanEndS && a.Caption == b.Caption && slices.Equal(a.Embedding, b.Embedding)
	}) {
		t.Errorf("hyparquet's rows differ from ours:\n%+v\n%+v", got, want)
	}
}
