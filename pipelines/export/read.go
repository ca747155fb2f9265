package export

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// ReadEmbeddings reads a finished export: its index and every row of its shards, in order.
func ReadEmbeddings(ctx context.Context, root string) (*Index, []schemas.EmbeddingRow, error) {
	idx, err := ReadIndex(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	var rows []schemas.EmbeddingRow
	for _, sh := range idx.Shards {
		rs, err := readShard(ctx, storage.Join(root, sh.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", sh.Name, err)
		}
		if int64(len(rs)) != sh.Rows {
			return nil, nil, fmt.Errorf("%s holds %d rows, the index says %d", sh.Name, len(rs), sh.Rows)
		}
		rows = append(rows, rs...)
	}
	return idx, rows, nil
}

// ReadFailures reads every row of a finished export's failures tables, in group order.
func ReadFailures(ctx context.Context, root string) ([]schemas.FailureRow, error) {
	idx, err := ReadIndex(ctx, root)
	if err != nil {
		return nil, err
	}
	st, err := storage.OpenStore(ctx, root)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []schemas.FailureRow
	for _, f := range idx.Failures {
		rows, err := shard.ReadFailures(ctx, st, f.Name)
		if err != nil {
			return nil, err
		}
		if int64(len(rows)) != f.Rows {
			return nil, fmt.Errorf("%s holds %d rows, the index says %d", f.Name, len(rows), f.Rows)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// readShard decodes one Parquet shard; the file's schema metadata (which the table read drops)
// is put back so the rows are checked as an embeddings table.
func readShard(ctx context.Context, uri string) ([]schemas.EmbeddingRow, error) {
	r, err := storage.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pf, err := file.NewParquetReader(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	sc, err := fr.Schema()
	if err != nil {
		return nil, err
	}
	md := sc.Metadata()
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	var rows []schemas.EmbeddingRow
	for tr.Next() {
		rec := tr.RecordBatch()
		rs, err := schemas.EmbeddingRowsFrom(array.NewRecordBatch(arrow.NewSchema(rec.Schema().Fields(), &md), rec.Columns(), rec.NumRows()))
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}
