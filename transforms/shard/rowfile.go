package shard

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/umt-dev/umt/schemas"
)

// EncodeRow returns row as a one-row Arrow IPC file of the clip schema of p: how prep stages a
// finished clip until its group commits. DecodeRow reads it back.
func EncodeRow(p schemas.Provenance, row schemas.ClipRow) ([]byte, error) {
	rec, err := schemas.NewClipRecord(memory.DefaultAllocator, p, []schemas.ClipRow{row})
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	var buf bytes.Buffer
	if err := writeRecordFile(&buf, rec, memory.DefaultAllocator); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeRow reads a file EncodeRow wrote for p, through the same checks as a shard (file
// structure, batch headers, schema, every buffer, the row against p), so a damaged file is an
// error wrapping ErrCorrupt or schemas.ErrSchema/ErrRow, never a panic. The row is a deep copy.
func DecodeRow(p schemas.Provenance, data []byte) (schemas.ClipRow, error) {
	af, err := openMapped(data, memory.DefaultAllocator)
	if err != nil {
		return schemas.ClipRow{}, err
	}
	defer af.Close()
	if n := af.NumRecords(); n != 1 {
		return schemas.ClipRow{}, fmt.Errorf("%w: a row file holds %d record batches, want 1", ErrCorrupt, n)
	}
	if _, err := schemas.CheckClipSchema(af.Schema()); err != nil {
		return schemas.ClipRow{}, err
	}
	rec, err := af.RecordBatchAt(0)
	if err != nil {
		return schemas.ClipRow{}, err
	}
	defer rec.Release()
	b, err := schemas.NewClipBatch(p, rec)
	if err != nil {
		return schemas.ClipRow{}, err
	}
	if b.Len() != 1 {
		return schemas.ClipRow{}, fmt.Errorf("%w: a row file holds %d rows, want 1", ErrCorrupt, b.Len())
	}
	row, err := b.Row(0)
	if err != nil {
		return schemas.ClipRow{}, err
	}
	return row.Clone(), nil
}
