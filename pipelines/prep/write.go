package prep

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// WriteGroups writes each group's rows, in manifest order, into shards named by the group's
// content, and its failures into one failures file: the same bytes whatever the bundling.
func WriteGroups(s beam.Scope, cfg Plan, items beam.PCollection) beam.PCollection {
	s = s.Scope("WriteGroups")
	return beam.ParDo(s, &writeGroupFn{Cfg: cfg}, beam.GroupByKey(s, items))
}

type writeGroupFn struct {
	Cfg Plan

	store  storage.Store
	shards beam.Counter
	bytes  beam.Counter
}

func (f *writeGroupFn) Setup(ctx context.Context) error {
	f.shards = beam.NewCounter(Namespace, "shards")
	f.bytes = beam.NewCounter(Namespace, "shard_bytes")
	st, err := storage.OpenStore(ctx, f.Cfg.Output)
	if err != nil {
		return fmt.Errorf("opening the output %s: %w", f.Cfg.Output, err)
	}
	f.store = st
	return nil
}

// Teardown closes the output store Setup opened (its GCS client, when the output is gs://).
func (f *writeGroupFn) Teardown() {
	if f.store != nil {
		f.store.Close()
	}
}

func (f *writeGroupFn) ProcessElement(ctx context.Context, group int64, iter func(*Item) bool, emit func(GroupResult)) error {
	var items []Item
	var it Item
	for iter(&it) {
		items = append(items, it)
		it = Item{}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Index < items[j].Index })
	prov, err := provenanceJSON(f.Cfg.Provenance)
	if err != nil {
		return err
	}
	key := groupKey(group, prov, items)
	res := GroupResult{Key: key}
	var prev *previous
	var fails []schemas.FailureRow
	w, err := shard.NewWriter(f.store, f.Cfg.Provenance, shard.WriterOptions{
		Key: key, TargetBytes: f.Cfg.TargetBytes, Compression: f.Cfg.Compression,
	})
	if err != nil {
		return err
	}
	for _, it := range items {
		var row schemas.ClipRow
		switch it.Kind {
		case ItemFailed:
			fails = append(fails, it.Failure)
			res.Failed++
			continue
		case ItemCommitted:
			if prev == nil {
				if prev, err = openPrevious(ctx, f.Cfg); err != nil {
					w.Abort()
					return err
				}
			}
			i, ok := prev.ds.RowOf(it.ClipID)
			if !ok {
				w.Abort()
				return fmt.Errorf("clip %s vanished from the committed dataset during the run", it.ClipID)
			}
			if row, err = prev.ds.Row(ctx, i); err != nil {
				w.Abort()
				return fmt.Errorf("reading committed clip %s: %w", it.ClipID, err)
			}
		case ItemStaged:
			if row, err = readStaged(ctx, f.store, f.Cfg, it.ClipID); err != nil {
				w.Abort()
				return fmt.Errorf("reading staged clip %s: %w", it.ClipID, err)
			}
		default:
			w.Abort()
			return fmt.Errorf("internal: item %+v has no kind", it)
		}
		if err := w.Write(ctx, row); err != nil {
			w.Abort()
			return fmt.Errorf("writing clip %s: %w", it.ClipID, err)
		}
		res.OK++
	}
	infos, err := w.Close(ctx)
	if err != nil {
		return fmt.Errorf("committing the shards of group %s: %w", key, err)
	}
	for _, in := range infos {
		res.Shards = append(res.Shards, in.Name)
		res.Bytes += in.Bytes
	}
	if len(fails) > 0 {
		fi, err := shard.WriteFailures(ctx, f.store, key, fails)
		if err != nil {
			return fmt.Errorf("committing the failures of group %s: %w", key, err)
		}
		res.Failures = fi.Name
		res.Bytes += fi.Bytes
	}
	f.shards.Inc(ctx, int64(len(infos)))
	f.bytes.Inc(ctx, res.Bytes)
	emit(res)
	return nil
}

func init() {
	register.DoFn4x1[context.Context, int64, func(*Item) bool, func(GroupResult), error](&writeGroupFn{})
	register.Iter1[Item]()
	register.Emitter1[GroupResult]()
}
