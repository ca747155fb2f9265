package loader

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
)

// memSource is an in-memory dataset whose row i is i; fail makes one row error once.
type memSource struct {
	n     int
	fail  atomic.Int64 // row index + 1 that fails once
	reads atomic.Int64
}

func (m *memSource) Len() int { return m.n }
func (m *memSource) Row(ctx context.Context, i int) (int, error) {
	m.reads.Add(1)
	if m.fail.CompareAndSwap(int64(i)+1, 0) {
		return 0, errors.New("injected read error")
	}
	return i, nil
}

func TestPermutationIsAPermutationAndKeyed(t *testing.T) {
	for _, n := range []int{1, 2, 17, 1000} {
		p := Permutation(n, 5, 3)
		s := append([]int(nil), p...)
		sort.Ints(s)
		for i := range s {
			if s[i] != i {
				t.Fatalf("n=%d: not a permutation: %v", n, p)
			}
		}
	}
	a, b, c := Permutation(100, 5, 3), Permutation(100, 5, 4), Permutation(100, 6, 3)
	if fmt.Sprint(a) == fmt.Sprint(b) || fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("another epoch or seed gave the same order")
	}
	if fmt.Sprint(a) != fmt.Sprint(Permutation(100, 5, 3)) {
		t.Fatal("same key, different order")
	}
}

// TestRanksPartitionTheEpoch: every rank gets ceil(n/world) samples, the ranks together cover
// every row, and only the wrap-around padding repeats rows.
func TestRanksPartitionTheEpoch(t *testing.T) {
	for _, c := range []struct{ n, world int }{{10, 1}, {10, 3}, {12, 4}, {7, 8}} {
		seen := map[int]int{}
		for r := 0; r < c.world; r++ {
			l, err := New[int](&memSource{n: c.n}, Options{Seed: 1, Rank: r, World: c.world, BatchSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			idx := l.EpochIndices(2)
			if len(idx) != (c.n+c.world-1)/c.world {
				t.Fatalf("n=%d world=%d rank %d: %d samples", c.n, c.world, r, len(idx))
			}
			for _, i := range idx {
				seen[i]++
			}
		}
		pad := (c.n+c.world-1)/c.world*c.world - c.n
		extra := 0
		for i := 0; i < c.n; i++ {
			if seen[i] == 0 {
				t.Fatalf("n=%d world=%d: row %d never seen", c.n, c.world, i)
			}
			extra += seen[i] - 1
		}
		if extra != pad {
			t.Fatalf("n=%d world=%d: %d repeats, want padding %d", c.n, c.world, extra, pad)
		}
	}
}

func take(t *testing.T, l *Loader[int], k int) []string {
	t.Helper()
	var out []string
	for i := 0; i < k; i++ {
		b, err := l.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for j, ix := range b.Indices {
			if b.Rows[j] != ix {
				t.Fatalf("row %d holds %d", ix, b.Rows[j])
			}
		}
		out = append(out, fmt.Sprintf("e%d/o%d:%v", b.Epoch, b.Offset, b.Rows))
	}
	return out
}

// TestResumeSeesTheSameData: 7 batches, save the position, a fresh loader seeks there and
// continues exactly like the uninterrupted loader, across epoch boundaries.
func TestResumeSeesTheSameData(t *testing.T) {
	src := &memSource{n: 23}
	o := Options{Seed: 9, Rank: 1, World: 2, BatchSize: 3, Prefetch: 3}
	full, _ := New[int](src, o)
	defer full.Close()
	all := take(t, full, 15) // 4 batches per epoch: crosses three epoch boundaries
	first, _ := New[int](src, o)
	head := take(t, first, 7)
	pos := first.Position()
	first.Close()
	if pos.Epoch != 1 || pos.Offset != 3 {
		t.Fatalf("after 7 batches of 4 per epoch the position is %+v, want epoch 1 offset 3", pos)
	}
	second, _ := New[int](src, o)
	defer second.Close()
	if err := second.Seek(pos); err != nil {
		t.Fatal(err)
	}
	tail := take(t, second, 8)
	got := append(head, tail...)
	for i := range all {
		if got[i] != all[i] {
			t.Fatalf("batch %d: resumed %s, uninterrupted %s", i, got[i], all[i])
		}
	}
	other, _ := New[int](src, Options{Seed: 10, BatchSize: 3})
	if err := other.Seek(pos); err == nil {
		t.Fatal("seeking to a position saved with another seed succeeded")
	}
}

// TestReadErrorSurfacesAndRetries: a failing row makes Next return the error without moving
// the position; the next call reads the same batch again.
func TestReadErrorSurfacesAndRetries(t *testing.T) {
	src := &memSource{n: 10}
	l, _ := New[int](src, Options{Seed: 1, BatchSize: 2})
	defer l.Close()
	idx := l.EpochIndices(0)
	src.fail.Store(int64(idx[2]) + 1) // a row of the second batch
	take(t, l, 1)
	if _, err := l.Next(context.Background()); err == nil {
		t.Fatal("injected error not returned")
	}
	if p := l.Position(); p.Offset != 1 {
		t.Fatalf("position moved to %+v after an error", p)
	}
	b, err := l.Next(context.Background())
	if err != nil || b.Offset != 1 {
		t.Fatalf("retry: %+v, %v", b, err)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{{BatchSize: 0}, {BatchSize: 1, Rank: 2, World: 2}, {BatchSize: 11}} {
		if _, err := New[int](&memSource{n: 10}, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestPrefetchRunsAhead: after one Next, the background reader has fetched further batches.
func TestPrefetchRunsAhead(t *testing.T) {
	src := &memSource{n: 100}
	l, _ := New[int](src, Options{Seed: 1, BatchSize: 4, Prefetch: 3})
	take(t, l, 1)
	for i := 0; i < 1000 && src.reads.Load() < 16; i++ {
		// the prefetcher fills its 3-batch queue plus one batch in flight
		waitABit()
	}
	if r := src.reads.Load(); r < 16 {
		t.Fatalf("only %d rows read after the first batch; prefetch is not running ahead", r)
	}
	l.Close()
}

// TestEpochBatchesCap: with a cap the loader moves to the next epoch after that many batches,
// and those batches are the first ones of the uncapped epoch.
func TestEpochBatchesCap(t *testing.T) {
	src := &memSource{n: 10}
	full, _ := New[int](src, Options{Seed: 4, BatchSize: 2})
	defer full.Close()
	capped, _ := New[int](src, Options{Seed: 4, BatchSize: 2, EpochBatches: 3})
	defer capped.Close()
	if capped.BatchesPerEpoch() != 3 || full.BatchesPerEpoch() != 5 {
		t.Fatalf("batches per epoch %d and %d", capped.BatchesPerEpoch(), full.BatchesPerEpoch())
	}
	a, b := take(t, full, 10), take(t, capped, 6)
	for i, want := range []string{a[0], a[1], a[2], a[5], a[6], a[7]} {
		if b[i] != want {
			t.Fatalf("capped batch %d = %s, want %s", i, b[i], want)
		}
	}
}
