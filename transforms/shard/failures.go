package shard

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/umt-dev/umt/internal/mmap"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
)

// FileInfo describes a committed failures file.
type FileInfo struct {
	Name   string `json:"name"`
	Rows   int    `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// WriteFailures commits rows as the failures file of the writer with key
// (failures-<key>.arrow), exactly once like a shard. No rows, no file.
func WriteFailures(ctx context.Context, store storage.Store, key string, rows []schemas.FailureRow) (FileInfo, error) {
	if err := checkKey(key); err != nil {
		return FileInfo{}, err
	}
	if len(rows) == 0 {
		return FileInfo{}, nil
	}
	name := FailuresName(key)
	mem := memory.DefaultAllocator
	rec, err := schemas.NewFailureRecord(mem, rows)
	if err != nil {
		return FileInfo{}, err
	}
	defer rec.Release()
	sw, err := store.Create(ctx, name, storage.CreateOptions{IfNotExists: true})
	if err != nil {
		return FileInfo{}, err
	}
	defer sw.Abort()
	if err := writeRecordFile(sw, rec, mem); err != nil {
		return FileInfo{}, err
	}
	data, release, err := mmap.File(sw.StagedPath())
	if err != nil {
		return FileInfo{}, err
	}
	got, verr := failuresFromBytes(data, mem)
	info := FileInfo{Name: name, Rows: len(got), Bytes: int64(len(data)), SHA256: hashBytes(data)}
	release()
	if verr != nil || len(got) != len(rows) {
		return FileInfo{}, fmt.Errorf("%w: verify %s: %d of %d rows read back: %v", ErrCorrupt, name, len(got), len(rows), verr)
	}
	if err := sw.Commit(ctx); err != nil {
		return FileInfo{}, fmt.Errorf("publish %s: %w", name, err)
	}
	return info, nil
}

func failuresFromBytes(data []byte, mem memory.Allocator) (rows []schemas.FailureRow, err error) {
	fr, err := openMapped(data, mem)
	if err != nil {
		return nil, err
	}
	defer fr.Close()
	return failuresFrom(fr)
}

func failuresFrom(fr *arrowFile) (rows []schemas.FailureRow, err error) {
	defer func() {
		if x := recover(); x != nil {
			rows, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, x)
		}
	}()
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordBatchAt(i)
		if err != nil {
			return nil, fmt.Errorf("%w: failures batch %d: %v", ErrCorrupt, i, err)
		}
		r, err := schemas.FailureRowsFrom(rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// ReadFailures reads the failures file name in store (one WriteFailures committed).
func ReadFailures(ctx context.Context, store storage.Store, name string) ([]schemas.FailureRow, error) {
	b, err := readAll(ctx, store, name, 1<<30)
	if err != nil {
		return nil, err
	}
	rows, err := failuresFromBytes(b, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows, nil
}
