package shard

import (
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// writeRecordFile writes rec as a whole Arrow IPC file (schema, one record batch, footer) to
// w: the form of failures files, clip-id files and staged rows.
func writeRecordFile(w io.Writer, rec arrow.RecordBatch, mem memory.Allocator) error {
	fw, err := ipc.NewFileWriter(w, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err != nil {
		return err
	}
	if err := fw.Write(rec); err != nil {
		return err
	}
	return fw.Close()
}
