package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// A group is GroupClips consecutive input rows (dataset rows or manifest entries): one Parquet
// shard, at most one failures file and, with --npy, one .npy and one metadata file, all named
// from the group's base name. The Parquet shard is written last: it is the group's commit.

// Result is what a group committed.
type Result struct {
	Group         int64
	Name          string // the Parquet shard
	Rows          int64
	Bytes         int64
	Failures      string // the failures file, "" when the group has none
	Failed        int64
	FailuresBytes int64
	Reused        bool // committed by an earlier run
}

// groupPlan is what resume decides for a group before any of its rows is computed.
type groupPlan struct {
	base  string
	done  *Result                       // the group is committed (by an earlier run, or this one before a kill)
	retry map[string]schemas.FailureRow // clip id → the failure an earlier run recorded, redone as the next attempt
	prev  *IndexShard                   // the earlier run's shard of the group, when retrying (its ok rows are kept)
}

// baseName is group g's file stem: the plan's key and the group, and when failures of an
// earlier run are redone, a hash of which clips are retried at which attempt (so the redone
// group never takes the name of the group it replaces, and a killed retry resumes its own).
func baseName(p Plan, g int64, retry map[string]schemas.FailureRow) string {
	base := fmt.Sprintf("embeddings-%s-%05d", p.Key[:16], g)
	if len(retry) == 0 {
		return base
	}
	ids := make([]string, 0, len(retry))
	for id := range retry {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s\x00%d\x00", id, retry[id].Attempt+1)
	}
	return base + "-r" + hex.EncodeToString(h.Sum(nil))[:8]
}

// failuresKey is the shard.WriteFailures key of a group: failures-<key16>-<group>[-r…].arrow.
func failuresKey(base string) string { return strings.TrimPrefix(base, "embeddings-") }

// planGroup decides group g: an earlier export's group is kept as it is unless --retry-failed
// and it recorded failures that can be redone; otherwise the group is committed if its shard
// exists (a killed run), else it must be computed.
func planGroup(ctx context.Context, st storage.Store, p Plan, g int64) (groupPlan, error) {
	var gp groupPlan
	if p.Prev != nil {
		sh, fl := p.Prev.group(g)
		if sh == nil {
			return gp, fmt.Errorf("the export at %s has no shard for group %d; delete it and rerun", p.Output, g)
		}
		if p.RetryFailed && fl != nil {
			fails, err := shard.ReadFailures(ctx, st, fl.Name)
			if err != nil {
				return gp, fmt.Errorf("reading the failures of the earlier export: %w", err)
			}
			for _, f := range fails {
				if f.ClipID != "" && f.ErrorClass != schemas.ClassDuplicate {
					if gp.retry == nil {
						gp.retry = map[string]schemas.FailureRow{}
					}
					gp.retry[f.ClipID] = f
				}
			}
		}
		if len(gp.retry) == 0 {
			r := Result{Group: g, Name: sh.Name, Rows: sh.Rows, Bytes: sh.Bytes, Reused: true}
			if fl != nil {
				r.Failures, r.Failed, r.FailuresBytes = fl.Name, fl.Rows, fl.Bytes
			}
			gp.base, gp.done = strings.TrimSuffix(sh.Name, ".parquet"), &r
			return gp, nil
		}
		gp.prev = sh
	}
	gp.base = baseName(p, g, gp.retry)
	r, ok, err := committedGroup(ctx, st, p, g, gp.base)
	if err != nil {
		return gp, err
	}
	if ok {
		gp.done = &r
	}
	return gp, nil
}

// committedGroup reads back a group whose shard a killed run committed.
func committedGroup(ctx context.Context, st storage.Store, p Plan, g int64, base string) (Result, bool, error) {
	name := base + ".parquet"
	ok, err := st.Exists(ctx, name)
	if err != nil || !ok {
		return Result{}, false, err
	}
	rows, size, err := parquetRows(ctx, st, name)
	if err != nil {
		return Result{}, false, fmt.Errorf("the committed shard %s cannot be read (delete it and rerun): %w", name, err)
	}
	r := Result{Group: g, Name: name, Rows: rows, Bytes: size, Reused: true}
	fname := shard.FailuresName(failuresKey(base))
	if info, err := st.Stat(ctx, fname); err == nil {
		fails, err := shard.ReadFailures(ctx, st, fname)
		if err != nil {
			return Result{}, false, fmt.Errorf("the committed failures %s cannot be read (delete %s and rerun): %w", fname, name, err)
		}
		r.Failures, r.Failed, r.FailuresBytes = fname, int64(len(fails)), info.Size
	} else if !errors.Is(err, storage.ErrNotExist) {
		return Result{}, false, err
	}
	return r, true, nil
}

// writeGroup commits a group's files: its failures, the --npy view, and last its Parquet shard
// (published only if absent). Files a killed run left beside an uncommitted shard are
// replaced: nothing reads them before the shard exists.
func writeGroup(ctx context.Context, st storage.Store, p Plan, g int64, base string, rows []schemas.EmbeddingRow, fails []schemas.FailureRow) (Result, error) {
	res := Result{Group: g, Name: base + ".parquet", Rows: int64(len(rows)), Failed: int64(len(fails))}
	if len(fails) > 0 {
		key := failuresKey(base)
		fi, err := shard.WriteFailures(ctx, st, key, fails)
		if errors.Is(err, storage.ErrExists) { // a killed run's, with other messages
			if err = st.Delete(ctx, shard.FailuresName(key)); err == nil {
				fi, err = shard.WriteFailures(ctx, st, key, fails)
			}
		}
		if err != nil {
			return res, fmt.Errorf("committing the failures of group %d: %w", g, err)
		}
		res.Failures, res.FailuresBytes = fi.Name, fi.Bytes
	}
	data, err := EncodeParquet(p.Info, rows)
	if err != nil {
		return res, err
	}
	if p.NPY && len(rows) > 0 {
		if err := writeNPYView(ctx, st, p.Info, base, rows); err != nil {
			return res, err
		}
	}
	if err := storage.Put(ctx, st, res.Name, data, storage.CreateOptions{IfNotExists: true}); err != nil {
		return res, fmt.Errorf("committing %s: %w", res.Name, err)
	}
	res.Bytes = int64(len(data))
	return res, nil
}

// ensureNPY writes the --npy view of a committed group that lacks it (an earlier run without
// --npy), from its Parquet shard.
func ensureNPY(ctx context.Context, st storage.Store, p Plan, r Result) error {
	base := strings.TrimSuffix(r.Name, ".parquet")
	if r.Rows == 0 {
		return nil
	}
	if ok, err := st.Exists(ctx, npyName(base)); err != nil || ok {
		return err
	}
	rows, err := readShard(ctx, storage.Join(p.Output, r.Name))
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	return writeNPYView(ctx, st, p.Info, base, rows)
}

// previousExport reads the export an earlier run committed at p.Output: nil if none; an error
// if it was made with other settings (another key), which this run must not mix with.
func previousExport(ctx context.Context, p Plan) (*Index, error) {
	idx, err := ReadIndex(ctx, p.Output)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if idx.Key != p.Key {
		return nil, fmt.Errorf("--output=%s already holds an export made from another input, model or settings (key %.16s, this run's %.16s); choose another --output, or delete it to replace it", p.Output, idx.Key, p.Key)
	}
	return idx, nil
}

// openOutput opens the export root for a DoFn (its Setup; Teardown closes it).
func openOutput(ctx context.Context, p Plan) (storage.Store, error) {
	st, err := storage.OpenStore(ctx, p.Output)
	if err != nil {
		return nil, fmt.Errorf("opening the output %s: %w", p.Output, err)
	}
	return st, nil
}
