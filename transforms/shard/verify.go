package shard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/umt-dev/umt/schemas"
)

// ErrCorrupt classifies a shard or index whose bytes are not what was committed: truncated,
// altered, unreadable as Arrow, or disagreeing with the index. Re-run the job that wrote it
// (committed work is skipped) after deleting the damaged object.
var ErrCorrupt = errors.New("corrupt dataset object")

// ErrNoIndex means the dataset has no committed index: its writing job has not finished.
var ErrNoIndex = errors.New("dataset has no index")

// shardSummary is what a full read of a shard establishes.
type shardSummary struct {
	Prov    schemas.Provenance
	Rows    int
	Batches []int
	ClipIDs []string
}

// summarize reads every record batch of a clip shard, validating the schema, every buffer
// and every row against the provenance. It never panics on bad bytes.
func summarize(fr *arrowFile) (s shardSummary, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, x)
		}
	}()
	p, err := schemas.CheckClipSchema(fr.Schema())
	if err != nil {
		return s, err
	}
	s.Prov = p
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordBatchAt(i)
		if err != nil {
			return s, fmt.Errorf("%w: record batch %d: %v", ErrCorrupt, i, err)
		}
		err = func() error {
			defer rec.Release()
			b, err := schemas.NewClipBatch(p, rec)
			if err != nil {
				return err
			}
			for r := 0; r < b.Len(); r++ {
				row, err := b.Row(r)
				if err != nil {
					return err
				}
				s.ClipIDs = append(s.ClipIDs, row.ClipID)
			}
			s.Batches = append(s.Batches, b.Len())
			s.Rows += b.Len()
			return nil
		}()
		if err != nil {
			return s, fmt.Errorf("%w: record batch %d: %v", ErrCorrupt, i, err)
		}
	}
	return s, nil
}

// summarizeBytes summarizes a shard held in memory (a memory map).
func summarizeBytes(data []byte, mem memory.Allocator) (shardSummary, error) {
	fr, err := openMapped(data, mem)
	if err != nil {
		return shardSummary{}, err
	}
	defer fr.Close()
	return summarize(fr)
}

// arrowFile is an Arrow IPC file whose metadata is checked (flatcheck.go) before Arrow parses
// it: the footer when it is opened, each record batch header before the batch is read.
type arrowFile struct {
	fr      *ipc.FileReader
	r       io.ReaderAt
	size    int64
	batches [][3]int64
}

func (a *arrowFile) Schema() *arrow.Schema { return a.fr.Schema() }
func (a *arrowFile) NumRecords() int       { return a.fr.NumRecords() }
func (a *arrowFile) Close() error          { return a.fr.Close() }

// RecordBatchAt checks batch i's header, then reads it; the caller releases the batch.
func (a *arrowFile) RecordBatchAt(i int) (rec arrow.RecordBatch, err error) {
	if i < 0 || i >= len(a.batches) || len(a.batches) != a.fr.NumRecords() {
		return nil, fmt.Errorf("%w: record batch %d of %d", ErrCorrupt, i, len(a.batches))
	}
	if err := checkBlock(a.r, a.size, a.batches[i]); err != nil {
		return nil, err
	}
	defer func() {
		if x := recover(); x != nil {
			rec, err = nil, fmt.Errorf("%w: record batch %d: %v", ErrCorrupt, i, x)
		}
	}()
	return a.fr.RecordBatchAt(i)
}

// openMapped opens an Arrow file held in memory (a memory map): buffers alias data.
func openMapped(data []byte, mem memory.Allocator) (af *arrowFile, err error) {
	defer func() {
		if x := recover(); x != nil {
			af, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, x)
		}
	}()
	r := bytes.NewReader(data)
	batches, err := checkFile(r, int64(len(data)))
	if err != nil {
		return nil, err
	}
	fr, err := ipc.NewMappedFileReader(data, ipc.WithAllocator(capped(mem)))
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable Arrow file: %v", ErrCorrupt, err)
	}
	return &arrowFile{fr: fr, r: r, size: int64(len(data)), batches: batches}, nil
}

// openReaderAt opens an Arrow file through range reads (gs://).
func openReaderAt(r io.ReaderAt, size int64, mem memory.Allocator) (af *arrowFile, err error) {
	defer func() {
		if x := recover(); x != nil {
			af, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, x)
		}
	}()
	batches, err := checkFile(r, size)
	if err != nil {
		return nil, err
	}
	fr, err := ipc.NewFileReader(io.NewSectionReader(r, 0, size), ipc.WithAllocator(capped(mem)))
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable Arrow file: %v", ErrCorrupt, err)
	}
	return &arrowFile{fr: fr, r: r, size: size, batches: batches}, nil
}

// hashReader returns the hex sha256 of the first size bytes of r.
func hashReader(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
