package shard

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestMutationSoak (UMT_SOAK=1; ~2 min per 100k on 2 cores) reads randomly mutated shards —
// byte flips, 0xff runs, interesting 32/64-bit lengths — through both reader paths with a
// per-input deadline, catching panics, fatal allocations and hangs that coverage-guided
// fuzzing finds slowly on a busy machine.
func TestMutationSoak(t *testing.T) {
	if os.Getenv("UMT_SOAK") == "" {
		t.Skip("soak test: set UMT_SOAK=1")
	}
	seeds := [][]byte{seedShard(t, "full", CompressNone, 3), seedShard(t, "visible:2", CompressNone, 2), seedShard(t, "visible:1", CompressLZ4, 2)}
	rng := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 300000; it++ {
		s := append([]byte(nil), seeds[rng.IntN(3)]...)
		for k := 0; k < 1+rng.IntN(4); k++ {
			switch rng.IntN(5) {
			case 3:
				vals := []uint32{0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0x10000, 0xffff, 1 << 20, 1 << 30}
				i := rng.IntN(len(s)-4) &^ 3
				v := vals[rng.IntN(len(vals))]
				s[i], s[i+1], s[i+2], s[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			case 4:
				i := rng.IntN(len(s)-8) &^ 7
				v := uint64(1) << (32 + rng.IntN(30))
				for j := 0; j < 8; j++ {
					s[i+j] = byte(v >> (8 * j))
				}
			case 0:
				s[rng.IntN(len(s))] = byte(rng.Uint32())
			case 1:
				i := rng.IntN(len(s) - 8)
				for j := 0; j < 8; j++ {
					s[i+j] = 0xff
				}
			case 2:
				s[rng.IntN(len(s))] ^= 1 << rng.IntN(8)
			}
		}
		done := make(chan struct{})
		go func() {
			mem := memory.NewGoAllocator()
			summarizeBytes(s, mem)
			if fr, err := openReaderAt(bytes.NewReader(s), int64(len(s)), mem); err == nil {
				summarize(fr)
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			os.WriteFile(filepath.Join(os.TempDir(), "umt-shard-hang.bin"), s, 0o644)
			t.Fatalf("input %d took over 3s; saved it to %s", it, filepath.Join(os.TempDir(), "umt-shard-hang.bin"))
		}
	}
}
