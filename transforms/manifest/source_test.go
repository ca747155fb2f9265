package manifest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/umt-dev/umt/internal/testenv"
)

// parquetManifest writes a Parquet manifest with a string label and a nullable end.
func parquetManifest(t testing.TB) []byte {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "uri", Type: arrow.BinaryTypes.String},
		{Name: "caption", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "label", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "start", Type: arrow.PrimitiveTypes.Float64},
		{Name: "end", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a.mp4", "gs://b/c.webm", ""}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"first", "", ""}, []bool{true, false, true})
	b.Field(2).(*array.Int64Builder).AppendValues([]int64{4, 0, 1}, []bool{true, false, true})
	b.Field(3).(*array.Float64Builder).AppendValues([]float64{0, 1, 0}, nil)
	b.Field(4).(*array.Float64Builder).AppendValues([]float64{2, 0, 0}, []bool{true, false, true})
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &buf, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var wantParquet = []Row{
	{Index: 0, URI: "/r/a.mp4", Caption: "first", Label: "4", End: 2},
	{Index: 1, URI: "gs://b/c.webm", Start: 1},
	{Index: 2, Label: "1", Err: "row 2: no video path (give uri, path, video or image)"},
}

func TestParquet(t *testing.T) {
	data := parquetManifest(t)
	// From a stream (as from GCS or HTTP) and from a file (ReaderAt).
	got := decodeString(t, Parquet, "/r", string(data))
	if !reflect.DeepEqual(got, wantParquet) {
		t.Errorf("stream:\n got %+v\nwant %+v", got, wantParquet)
	}
	p := filepath.Join(t.TempDir(), "m.parquet")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(context.Background(), p, Options{Root: "/r"})
	if err != nil || !reflect.DeepEqual(got, wantParquet) {
		t.Errorf("file: %v\n got %+v\nwant %+v", err, got, wantParquet)
	}
}

func TestHTTPSource(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/lists/m.jsonl" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `{"uri":"v.mp4","caption":"c"}`)
	}))
	defer srv.Close()
	rows, err := ReadAll(context.Background(), srv.URL+"/lists/m.jsonl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Row{{URI: srv.URL + "/lists/v.mp4", Caption: "c"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("got %+v, want %+v", rows, want)
	}
	_, err = ReadAll(context.Background(), srv.URL+"/none.jsonl", Options{})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing URL: %v", err)
	}
}

// TestGCSSource reads a manifest from fake-gcs-server through the production client
// (STORAGE_EMULATOR_HOST), with relative paths resolved under the manifest's gs:// prefix.
func TestGCSSource(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(port),
		PublicHost: fmt.Sprintf("127.0.0.1:%d", port),
		InitialObjects: []fakestorage.Object{{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "corpus", Name: "k400/train.csv"},
			Content:     []byte("a/x.mp4,12\n"),
		}, {
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "corpus", Name: "k400/m.parquet"},
			Content:     parquetManifest(t),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", fmt.Sprintf("127.0.0.1:%d", port))
	rows, err := ReadAll(context.Background(), "gs://corpus/k400/train.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Row{{URI: "gs://corpus/k400/a/x.mp4", Label: "12"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("got %+v, want %+v", rows, want)
	}
	rows, err = ReadAll(context.Background(), "gs://corpus/k400/m.parquet", Options{Root: "/r"})
	if err != nil || !reflect.DeepEqual(rows, wantParquet) {
		t.Errorf("parquet from GCS: %v %+v", err, rows)
	}
	if _, err := ReadAll(context.Background(), "gs://corpus/none.csv", Options{}); err == nil {
		t.Error("a missing object should fail")
	}
}

// TestCorpusManifest reads the video corpus's ground truth as a manifest: every entry is a row.
func TestCorpusManifest(t *testing.T) {
	dir := testenv.Videos(t)
	rows, err := ReadAll(context.Background(), filepath.Join(dir, "manifest.jsonl"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, entries := testenv.Corpus(t)
	if len(rows) != len(entries) {
		t.Fatalf("%d rows, want %d", len(rows), len(entries))
	}
	for i, r := range rows {
		if r.Err != "" || r.Index != int64(i) || !strings.HasPrefix(r.URI, dir) || r.Caption == "" && !strings.HasPrefix(r.URI, filepath.Join(dir, "bad")) {
			t.Errorf("row %d: %+v", i, r)
		}
	}
}
