package manifest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// maxParquetBytes bounds a Parquet manifest read into memory from a stream (gs://, https://).
const maxParquetBytes = 4 << 30

// decodeParquet reads a Parquet manifest with the columns uri (or path, video, image), caption,
// label, start, end, in record batches.
func decodeParquet(ctx context.Context, r io.Reader, res *resolver, fn func(Row) error) error {
	ra, ok := r.(parquet.ReaderAtSeeker)
	if !ok {
		b, err := io.ReadAll(io.LimitReader(r, maxParquetBytes+1))
		if err != nil {
			return err
		}
		if len(b) > maxParquetBytes {
			return fmt.Errorf("Parquet manifest over %d bytes; split it into several files", maxParquetBytes)
		}
		ra = bytes.NewReader(b)
	}
	pf, err := file.NewParquetReader(ra)
	if err != nil {
		return fmt.Errorf("not a Parquet file: %v", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("reading the Parquet schema: %v", err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("reading the Parquet schema: %v", err)
	}
	cols := csvColumns{-1, -1, -1, -1, -1, -1}
	for i, f := range sc.Fields() {
		switch strings.ToLower(f.Name) {
		case "uri", "path", "video":
			if cols.uri < 0 {
				cols.uri = i
			}
		case "image":
			if cols.uri < 0 {
				cols.uri, cols.image = i, i
			}
		case "caption":
			cols.caption = i
		case "label":
			cols.label = i
		case "start":
			cols.start = i
		case "end":
			cols.end = i
		}
	}
	if cols.uri < 0 {
		return fmt.Errorf("the Parquet manifest has no uri column (columns: %s); name the video column uri, path or video", fieldNames(sc))
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("reading Parquet records: %v", err)
	}
	defer rr.Release()
	var n int64
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			e := entry{where: fmt.Sprintf("row %d", n), image: cols.image >= 0}
			n++
			var msg string
			e.uri, msg = cellString(rec, cols.uri, i)
			if msg == "" {
				e.caption, msg = cellString(rec, cols.caption, i)
			}
			if msg == "" {
				e.label, msg = cellString(rec, cols.label, i)
			}
			if msg == "" {
				e.start, msg = cellFloat(rec, cols.start, i)
			}
			if msg == "" {
				e.end, msg = cellFloat(rec, cols.end, i)
			}
			e.err = msg
			if err := fn(res.row(e)); err != nil {
				return err
			}
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("reading Parquet records after row %d: %v", n, err)
	}
	return nil
}

func fieldNames(sc *arrow.Schema) string {
	var names []string
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// cellString reads a string-like cell; integers become their decimal text; null is "".
func cellString(rec arrow.RecordBatch, col, i int) (string, string) {
	if col < 0 {
		return "", ""
	}
	a := rec.Column(col)
	if a.IsNull(i) {
		return "", ""
	}
	switch c := a.(type) {
	case *array.String:
		return c.Value(i), ""
	case *array.LargeString:
		return c.Value(i), ""
	case *array.Binary:
		return string(c.Value(i)), ""
	case *array.Int64:
		return strconv.FormatInt(c.Value(i), 10), ""
	case *array.Int32:
		return strconv.FormatInt(int64(c.Value(i)), 10), ""
	case *array.Dictionary:
		if d, ok := c.Dictionary().(*array.String); ok {
			return d.Value(c.GetValueIndex(i)), ""
		}
	}
	return "", fmt.Sprintf("column %q has type %s; use a string column", rec.ColumnName(col), a.DataType())
}

// cellFloat reads a seconds cell of any numeric type; null is 0.
func cellFloat(rec arrow.RecordBatch, col, i int) (float64, string) {
	if col < 0 {
		return 0, ""
	}
	a := rec.Column(col)
	if a.IsNull(i) {
		return 0, ""
	}
	switch c := a.(type) {
	case *array.Float64:
		return c.Value(i), ""
	case *array.Float32:
		return float64(c.Value(i)), ""
	case *array.Int64:
		return float64(c.Value(i)), ""
	case *array.Int32:
		return float64(c.Value(i)), ""
	}
	return 0, fmt.Sprintf("column %q has type %s; use a float64 column of seconds", rec.ColumnName(col), a.DataType())
}
