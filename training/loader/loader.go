package loader

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Source is random access to a dataset's rows (*shard.Dataset satisfies it).
type Source[R any] interface {
	Len() int
	Row(ctx context.Context, i int) (R, error)
}

// Options configures a loader.
type Options struct {
	Seed      uint64 // shuffle seed; the permutation of epoch e depends only on (Seed, e)
	Rank      int    // this process's rank in [0, World)
	World     int    // number of ranks; 0 means 1
	BatchSize int    // rows per batch on this rank
	Prefetch  int    // batches read ahead in the background; 0 means 2
	Workers   int    // goroutines reading rows of one batch; 0 means 4
	// EpochBatches caps the batches taken per epoch (0 = all): UMT's loop stops each epoch
	// after len(dataset) // batch // world steps, skipping the rest of the rank's partition.
	EpochBatches int
}

// Position is where the loader stands: the next batch it returns is batch Offset of epoch Epoch.
type Position struct {
	Epoch  int    `json:"epoch"`
	Offset int    `json:"offset"`
	Seed   uint64 `json:"seed"`
}

// Batch is one batch of rows with the dataset indices they came from.
type Batch[R any] struct {
	Epoch, Offset int // the Position this batch was read at
	Indices       []int
	Rows          []R
}

// Loader hands out batches in order. It is used by one goroutine.
type Loader[R any] struct {
	src    Source[R]
	opt    Options
	pos    Position
	cancel context.CancelFunc
	ch     chan result[R]
	wg     sync.WaitGroup
}

type result[R any] struct {
	b   Batch[R]
	err error
}

// New returns a loader positioned at the start of epoch 0.
func New[R any](src Source[R], o Options) (*Loader[R], error) {
	if o.World == 0 {
		o.World = 1
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 2
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	switch {
	case o.Rank < 0 || o.Rank >= o.World:
		return nil, fmt.Errorf("loader: rank %d outside [0, world=%d)", o.Rank, o.World)
	case o.BatchSize <= 0:
		return nil, fmt.Errorf("loader: batch size %d must be positive", o.BatchSize)
	case src.Len() == 0:
		return nil, fmt.Errorf("loader: the dataset has no rows")
	case o.EpochBatches < 0:
		return nil, fmt.Errorf("loader: EpochBatches %d must be >= 0", o.EpochBatches)
	}
	l := &Loader[R]{src: src, opt: o, pos: Position{Seed: o.Seed}}
	if l.BatchesPerEpoch() == 0 {
		return nil, fmt.Errorf("loader: %d rows over %d ranks give fewer than one batch of %d per rank; lower the batch size", src.Len(), o.World, o.BatchSize)
	}
	return l, nil
}

// PerRank is the number of samples each rank sees per epoch: ceil(Len/World).
func (l *Loader[R]) PerRank() int { return (l.src.Len() + l.opt.World - 1) / l.opt.World }

// BatchesPerEpoch is PerRank/BatchSize (the incomplete last batch is dropped), capped by
// EpochBatches.
func (l *Loader[R]) BatchesPerEpoch() int {
	n := l.PerRank() / l.opt.BatchSize
	if l.opt.EpochBatches > 0 && l.opt.EpochBatches < n {
		n = l.opt.EpochBatches
	}
	return n
}

// EpochIndices returns this rank's dataset indices of an epoch, in order: the global
// permutation padded by wrap-around to a multiple of World, then every World-th element
// starting at Rank.
func (l *Loader[R]) EpochIndices(epoch int) []int {
	n, world := l.src.Len(), l.opt.World
	perm := Permutation(n, l.opt.Seed, epoch)
	total := l.PerRank() * world
	for i := 0; len(perm) < total; i++ {
		perm = append(perm, perm[i%n])
	}
	out := make([]int, 0, l.PerRank())
	for i := l.opt.Rank; i < total; i += world {
		out = append(out, perm[i])
	}
	return out
}

// Position returns the position of the next batch.
func (l *Loader[R]) Position() Position { return l.pos }

// Seek moves the loader to p (a position saved in a checkpoint). It fails when p was saved
// with another seed, so a resumed run cannot silently see another data order.
func (l *Loader[R]) Seek(p Position) error {
	if p.Seed != l.opt.Seed {
		return fmt.Errorf("loader: checkpoint position was saved with seed %d, this run uses %d; resume with the same seed", p.Seed, l.opt.Seed)
	}
	if p.Epoch < 0 || p.Offset < 0 || p.Offset > l.BatchesPerEpoch() {
		return fmt.Errorf("loader: position epoch %d offset %d is outside the %d batches of an epoch", p.Epoch, p.Offset, l.BatchesPerEpoch())
	}
	l.stop()
	l.pos = p
	return nil
}

// Next returns the batch at the current position and advances it.
func (l *Loader[R]) Next(ctx context.Context) (Batch[R], error) {
	if l.ch == nil {
		l.start()
	}
	select {
	case r, ok := <-l.ch:
		if !ok {
			return Batch[R]{}, errors.New("loader: closed")
		}
		if r.err != nil {
			l.stop()
			return Batch[R]{}, r.err
		}
		l.pos.Epoch, l.pos.Offset = r.b.Epoch, r.b.Offset+1
		if l.pos.Offset == l.BatchesPerEpoch() {
			l.pos.Epoch, l.pos.Offset = l.pos.Epoch+1, 0
		}
		return r.b, nil
	case <-ctx.Done():
		return Batch[R]{}, ctx.Err()
	}
}

// Close stops the prefetcher.
func (l *Loader[R]) Close() { l.stop() }

func (l *Loader[R]) stop() {
	if l.cancel != nil {
		l.cancel()
		for range l.ch {
		}
		l.wg.Wait()
		l.cancel, l.ch = nil, nil
	}
}

// start launches the prefetcher from the current position.
func (l *Loader[R]) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.ch = make(chan result[R], l.opt.Prefetch)
	l.wg.Add(1)
	go func(p Position) {
		defer l.wg.Done()
		defer close(l.ch)
		bs := l.opt.BatchSize
		for epoch := p.Epoch; ; epoch++ {
			idx := l.EpochIndices(epoch)
			off := 0
			if epoch == p.Epoch {
				off = p.Offset
			}
			for ; off < l.BatchesPerEpoch(); off++ {
				b := Batch[R]{Epoch: epoch, Offset: off, Indices: idx[off*bs : (off+1)*bs]}
				rows, err := l.read(ctx, b.Indices)
				b.Rows = rows
				select {
				case l.ch <- result[R]{b, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}
	}(l.pos)
}

// read fetches the rows of one batch with up to Workers goroutines.
func (l *Loader[R]) read(ctx context.Context, idx []int) ([]R, error) {
	rows := make([]R, len(idx))
	errs := make([]error, len(idx))
	sem := make(chan struct{}, l.opt.Workers)
	var wg sync.WaitGroup
	for i, ix := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func(i, ix int) {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := l.src.Row(ctx, ix)
			if err != nil {
				errs[i] = fmt.Errorf("loader: row %d: %w", ix, err)
				return
			}
			rows[i] = r
		}(i, ix)
	}
	wg.Wait()
	return rows, errors.Join(errs...)
}
