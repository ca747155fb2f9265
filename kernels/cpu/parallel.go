package cpu

import "sync"

// used records that one operation ran on parts goroutines (see [Backend.MaxParallel]).
func (b *Backend) used(parts int) {
	for {
		w := b.widest.Load()
		if int64(parts) <= w || b.widest.CompareAndSwap(w, int64(parts)) {
			return
		}
	}
}

// MaxParallel is the most goroutines one operation has run on since New: at most Threads, and
// what a test observes to know that a thread limit holds.
func (b *Backend) MaxParallel() int { return int(b.widest.Load()) }

// parallel splits [0, n) into at most b.threads contiguous chunks of at least grain items and
// runs fn on each, the last one on the calling goroutine.
func (b *Backend) parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	parts := b.threads
	if maxParts := (n + grain - 1) / grain; parts > maxParts {
		parts = maxParts
	}
	if parts <= 1 {
		b.used(1)
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + parts - 1) / parts
	b.used((n + chunk - 1) / chunk)
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		if hi == n {
			fn(lo, hi)
			break
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}

// parallelWorkers runs fn(worker, i) for every i in [0, n), handing items to at most b.threads
// workers dynamically (items of uneven cost, e.g. attention heads). worker indexes per-worker
// scratch space.
func (b *Backend) parallelWorkers(n int, fn func(worker, i int)) {
	workers := min(b.threads, n)
	b.used(workers)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var mu sync.Mutex
	next := 0
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		i := next
		next++
		return i
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := take(); i < n; i = take() {
				fn(w, i)
			}
		}(w)
	}
	wg.Wait()
}
