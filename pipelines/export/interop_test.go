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
		Name        string  `json:"name"`
		Type        *string `json:"type"`
		Repetition  *string `json:"repetition"`
		LogicalType *string `json:"logical_type"`
	} `json:"schema"`
	Metadata map[string]string `json:"metadata"`
	Data     []struct {
		ClipID     string    `json:"clip_id"`
		SourceURI  string    `json:"source_uri"`
		SpanStartS float64   `json:"span_start_s"`
		SpanEndS   float64   `json:"span_end_s"`
		Caption    *string   `json:"caption"`
		Embedding  []float64 `json:"embedding"`
		Frames     []float64 `json:"frame_embeddings"`
		Text       []float64 `json:"text_embedding"`
	} `json:"data"`
}

// TestParquetReadByHyparquet: an independent Parquet reader (hyparquet under Node.js, installed
// by scripts/setup.d/shard.sh) reads every shard of float32 and float16 teacher exports and a
// float16 stage-2 export: its rows, ids, spans, captions, embedding, frame_embeddings and
// text_embedding (null for clips without captions) as required FLOAT (or FLOAT16) leaves with
// values equal to ours, and the metadata.
func TestParquetReadByHyparquet(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; scripts/setup.sh installs Node.js and hyparquet for this test")
	}
	in, _ := framesDataset(t, 3, 2, 32)
	for _, dt := range []string{schemas.DTypeFloat32, schemas.DTypeFloat16} {
		t.Run(dt, func(t *testing.T) {
			out := t.TempDir()
			cfg := teacherConfig(t, in, out, 2)
			cfg.DType = dt
			runConfig(t, cfg)
			checkHyparquet(t, node, out)
		})
	}
	t.Run("stage2 float16", func(t *testing.T) {
		in, _ := captionedDataset(t, 4, 2, 32, 6)
		ckpt, _ := stage2Checkpoint(t)
		out := t.TempDir()
		cfg := modelConfig(in, out, ModelStage2, ckpt)
		cfg.DType = schemas.DTypeFloat16
		runConfig(t, cfg)
		checkHyparquet(t, node, out)
	})
}

// checkHyparquet reads every shard of the export at out with hyparquet and compares it with
// ReadEmbeddings.
func checkHyparquet(t *testing.T, node, out string) {
	script := filepath.Join(testenv.RepoRoot(t), "tools", "node", "read_parquet.mjs")
	idx, want, meta := readExport(t, out)
	var got []schemas.EmbeddingRow
	f32 := func(v []float64) []float32 {
		if v == nil {
			return nil
		}
		e := make([]float32, len(v))
		for i, x := range v {
			e[i] = float32(x)
		}
		return e
	}
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
		leaves := 0
		for _, s := range js.Schema {
			f16 := s.Type != nil && *s.Type == "FIXED_LEN_BYTE_ARRAY" && s.LogicalType != nil && *s.LogicalType == "FLOAT16"
			if s.Name == "element" && s.Repetition != nil && *s.Repetition == "REQUIRED" &&
				(idx.DType == schemas.DTypeFloat32 && s.Type != nil && *s.Type == "FLOAT" || idx.DType == schemas.DTypeFloat16 && f16) {
				leaves++
			}
		}
		want := 1 + min(idx.Info.Frames, 1)
		if idx.Info.Text {
			want++
		}
		if leaves != want {
			t.Errorf("%s: %d required %s element leaves in %+v, want %d", sh.Name, leaves, idx.DType, js.Schema, want)
		}
		for k, v := range meta {
			if k != "ARROW:schema" && js.Metadata[k] != v {
				t.Errorf("%s: hyparquet reads metadata %s = %q, pqarrow %q", sh.Name, k, js.Metadata[k], v)
			}
		}
		for _, r := range js.Data {
			c := ""
			if r.Caption != nil {
				c = *r.Caption
			}
			got = append(got, schemas.EmbeddingRow{ClipID: r.ClipID, SourceURI: r.SourceURI, SpanStartS: r.SpanStartS, SpanEndS: r.SpanEndS, Caption: c,
				Embedding: f32(r.Embedding), FrameEmbeddings: f32(r.Frames), TextEmbedding: f32(r.Text)})
		}
	}
	if !slices.EqualFunc(got, want, func(a, b schemas.EmbeddingRow) bool {
		return a.ClipID == b.ClipID && a.SourceURI == b.SourceURI && a.SpanStartS == b.SpanStartS && a.SpanEndS == b.SpanEndS && a.Caption == b.Caption &&
			slices.Equal(a.Embedding, b.Embedding) && slices.Equal(a.FrameEmbeddings, b.FrameEmbeddings) && slices.Equal(a.TextEmbedding, b.TextEmbedding)
	}) {
		t.Errorf("hyparquet's rows differ from ours:\n%+v\n%+v", got, want)
	}
}
