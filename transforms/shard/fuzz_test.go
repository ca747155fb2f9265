package shard

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// seedShard writes a small valid shard and returns its bytes.
func seedShard(t testing.TB, layout, comp string, n int) []byte {
	dir := t.(interface{ TempDir() string }).TempDir()
	p := small(layout)
	names := writeAll(t, openStore(t, dir), p, rowsFor(p, uint64(n), n), []string{"f"}, WriterOptions{BatchRows: 2, Compression: comp})
	b, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReadShard: any bytes given to the shard reader give rows or an error, never a panic, and
// the mapped (local) and ReaderAt (gs://) paths agree on whether the bytes are valid.
func FuzzReadShard(f *testing.F) {
	for _, s := range [][]byte{
		seedShard(f, "full", CompressNone, 3),
		seedShard(f, "visible:2", CompressNone, 2),
		seedShard(f, "visible:1", CompressLZ4, 2),
		[]byte("ARROW1\x00\x00"),
		{},
	} {
		f.Add(s)
		if len(s) > 100 {
			cut := append([]byte(nil), s[:len(s)/2]...)
			f.Add(cut)
			flip := append([]byte(nil), s...)
			flip[len(flip)-20] ^= 0x40
			f.Add(flip)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		a, errA := summarizeBytes(data, mem)
		fr, err := openReaderAt(bytes.NewReader(data), int64(len(data)), mem)
		var errB error
		var b shardSummary
		if err != nil {
			errB = err
		} else {
			b, errB = summarize(fr)
			fr.Close()
		}
		if (errA == nil) != (errB == nil) {
			t.Fatalf("mapped and ReaderAt readers disagree: %v vs %v", errA, errB)
		}
		if errA == nil && (a.Rows != b.Rows || len(a.ClipIDs) != a.Rows) {
			t.Fatalf("readers disagree on rows: %d vs %d", a.Rows, b.Rows)
		}
		_, _ = failuresFromBytes(data, mem)
		// On success every buffer is released. On a corrupt compressed buffer arrow-go v18.8.0
		// panics out of its decompressor (recovered as an error) without releasing the buffer
		// it allocated; with the Go allocator the GC reclaims it, so only the accounting leaks.
		if errA == nil {
			mem.AssertSize(t, 0)
		}
	})
}

// Reading a truncated copy of a valid shard at every length is always an error, never a panic.
func TestTruncatedAtEveryLength(t *testing.T) {
	data := seedShard(t, "visible:2", CompressLZ4, 3)
	step := 1
	if testing.Short() {
		step = 97
	}
	for n := 0; n < len(data); n += step {
		if _, err := summarizeBytes(data[:n], memory.DefaultAllocator); err == nil {
			t.Fatalf("shard truncated to %d of %d bytes read without error", n, len(data))
		}
	}
	if s, err := summarizeBytes(data, memory.DefaultAllocator); err != nil || s.Rows != 3 {
		t.Fatalf("whole shard: %+v, %v", s, err)
	}
}
