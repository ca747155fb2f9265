// Package manifesttest writes manifests in every format for tests, byte for byte: text that is
// not UTF-8 reaches the file as written (encoding/json would replace it), so tests can feed the
// parsers what old archives hold.
package manifesttest

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Entry is one manifest entry; End 0 means "to the end".
type Entry struct {
	URI, Caption, Label string
	Start, End          float64
}

// Formats are the manifest formats Encode writes, by the name transforms/manifest gives them,
// with the file extension that selects each.
var Formats = []struct{ Name, Ext string }{{"csv", ".csv"}, {"jsonl", ".jsonl"}, {"json", ".json"}, {"parquet", ".parquet"}}

// Encode writes entries as a manifest of the named format: csv (with a header line), jsonl,
// json (a UMT annotation list, "video" keys) or parquet (String columns uri, caption, label,
// Float64 start, end).
func Encode(format string, entries []Entry) ([]byte, error) {
	var buf bytes.Buffer
	switch format {
	case "csv":
		w := csv.NewWriter(&buf)
		w.Write([]string{"uri", "caption", "label", "start", "end"})
		for _, e := range entries {
			w.Write([]string{e.URI, e.Caption, e.Label, ftoa(e.Start), ftoa(e.End)})
		}
		w.Flush()
		return buf.Bytes(), w.Error()
	case "jsonl", "json":
		key, sep, open, end := "uri", "\n", "", "\n"
		if format == "json" {
			key, sep, open, end = "video", ",\n", "[\n", "\n]\n"
		}
		buf.WriteString(open)
		for i, e := range entries {
			if i > 0 {
				buf.WriteString(sep)
			}
			fmt.Fprintf(&buf, `{%s: %s, "caption": %s, "label": %s, "start": %s, "end": %s}`,
				quote(key), quote(e.URI), quote(e.Caption), quote(e.Label), ftoa(e.Start), ftoa(e.End))
		}
		buf.WriteString(end)
		return buf.Bytes(), nil
	case "parquet":
		return encodeParquet(entries)
	}
	return nil, fmt.Errorf("manifesttest: unknown format %q", format)
}

// quote writes s as a JSON string, escaping only what JSON requires: bytes that are not UTF-8
// stay raw.
func quote(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = fmt.Appendf(b, `\u%04x`, c)
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func encodeParquet(entries []Entry) ([]byte, error) {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "uri", Type: arrow.BinaryTypes.String},
		{Name: "caption", Type: arrow.BinaryTypes.String},
		{Name: "label", Type: arrow.BinaryTypes.String},
		{Name: "start", Type: arrow.PrimitiveTypes.Float64},
		{Name: "end", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, e := range entries {
		b.Field(0).(*array.StringBuilder).Append(e.URI)
		b.Field(1).(*array.StringBuilder).Append(e.Caption)
		b.Field(2).(*array.StringBuilder).Append(e.Label)
		b.Field(3).(*array.Float64Builder).Append(e.Start)
		b.Field(4).(*array.Float64Builder).Append(e.End)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &buf, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		return nil, err
	}
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
