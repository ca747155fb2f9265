package export

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
)

// The --npy view is the layout embedding-reader and autofaiss read: emb/<shard>.npy holds the
// clip embeddings of one shard as an [N, E] array, metadata/<shard>.parquet the same N rows'
// identity columns, row-aligned, under the shard's own name. A shard without rows has no pair:
// embedding-reader skips an empty .npy but pairs the metadata files by position, so an empty
// pair would shift every later shard's metadata.
const (
	npyDir  = "emb/"
	metaDir = "metadata/"
)

func npyName(base string) string  { return npyDir + base + ".npy" }
func metaName(base string) string { return metaDir + base + ".parquet" }

// writeNPYView writes a group's .npy and metadata files (replacing what a killed run left).
func writeNPYView(ctx context.Context, st storage.Store, info schemas.EmbeddingInfo, base string, rows []schemas.EmbeddingRow) error {
	rec, err := schemas.NewEmbeddingRecord(memory.DefaultAllocator, info.Schema(), rows)
	if err != nil {
		return err
	}
	defer rec.Release()
	emb, meta, err := NPYView(rec)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{npyName(base), emb}, {metaName(base), meta}} {
		if err := storage.Put(ctx, st, f.name, f.data, storage.CreateOptions{}); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return nil
}

// NPYView encodes an embeddings record as the embedding-reader pair: the "embedding" column as
// a C-order .npy of shape [N, E] (<f4, or <f2 for a float16 export) and every column that is
// not a vector (clip_id, source_uri, span, caption) as a Parquet file.
func NPYView(rec arrow.RecordBatch) (npy, meta []byte, err error) {
	sc := rec.Schema()
	col := sc.FieldIndices("embedding")
	if len(col) != 1 {
		return nil, nil, fmt.Errorf("%w: no embedding column", schemas.ErrSchema)
	}
	fsl, ok := rec.Column(col[0]).(*array.FixedSizeList)
	if !ok {
		return nil, nil, fmt.Errorf("%w: embedding is %s, not a fixed-size list", schemas.ErrSchema, rec.Column(col[0]).DataType())
	}
	dim := int(fsl.DataType().(*arrow.FixedSizeListType).Len())
	n := int(rec.NumRows())
	var buf bytes.Buffer
	switch v := fsl.ListValues().(type) {
	case *array.Float32:
		npyHeader(&buf, "<f4", n, dim)
		binary.Write(&buf, binary.LittleEndian, v.Float32Values()[fsl.Offset()*dim:(fsl.Offset()+n)*dim])
	case *array.Float16:
		npyHeader(&buf, "<f2", n, dim)
		for _, h := range v.Values()[fsl.Offset()*dim : (fsl.Offset()+n)*dim] {
			binary.Write(&buf, binary.LittleEndian, h.Uint16())
		}
	default:
		return nil, nil, fmt.Errorf("%w: embedding elements are %s", schemas.ErrSchema, v.DataType())
	}
	var fields []arrow.Field
	var cols []arrow.Array
	for i, f := range sc.Fields() {
		switch f.Type.(type) {
		case *arrow.FixedSizeListType, *arrow.ListType:
			continue
		}
		fields = append(fields, f)
		cols = append(cols, rec.Column(i))
	}
	md := sc.Metadata()
	msc := arrow.NewSchema(fields, &md)
	mrec := array.NewRecordBatch(msc, cols, int64(n))
	defer mrec.Release()
	var mb bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithCreatedBy("umt export"), parquet.WithMaxRowGroupLength(int64(max(n, 1))))
	w, err := pqarrow.NewFileWriter(msc, &mb, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, nil, err
	}
	if err := w.Write(mrec); err != nil {
		w.Close()
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), mb.Bytes(), nil
}

// npyHeader writes a version 1.0 .npy header (the format numpy.save writes: magic, version,
// little-endian header length, a Python dict literal padded with spaces to a multiple of 64
// bytes and ended by a newline). No Go library we could use writes float16 or 2-D float32.
func npyHeader(buf *bytes.Buffer, descr string, n, dim int) {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }", descr, n, dim)
	const pre = 10 // magic (6) + version (2) + header length (2)
	pad := 64 - (pre+len(dict)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(buf, binary.LittleEndian, uint16(len(hdr)))
	buf.WriteString(hdr)
}
