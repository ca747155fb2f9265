package prep

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
)

// Item is one manifest row on its way to its group writer: a reference to a finished clip
// (staged or already committed) or a failure. Items are small, so the shuffle stays cheap.
type Item struct {
	Index   int64  // manifest position: orders rows inside a group
	ClipID  string // "" for rows that failed before they had an id
	Kind    ItemKind
	Failure schemas.FailureRow // for ItemFailed
}

// ItemKind says where an item's row is.
type ItemKind uint8

const (
	ItemStaged    ItemKind = iota + 1 // the clip's row is in _staging/<ClipID>.arrow
	ItemCommitted                     // the clip's row is in the dataset committed earlier
	ItemFailed                        // Failure holds the failure row
)

// staged is the item of a work unit whose row is staged.
func (w Work) staged() Item { return Item{Index: w.Row.Index, ClipID: w.ClipID, Kind: ItemStaged} }

// failed is the failure item of a work unit: its row, clip id and attempt, the class and stage,
// and a message made storable (valid UTF-8, foreign bytes quoted).
func (w Work) failed(class schemas.FailureClass, stage schemas.Stage, msg string) Item {
	return Item{Index: w.Row.Index, ClipID: w.ClipID, Kind: ItemFailed, Failure: schemas.FailureRow{
		URI: w.Row.URI, ClipID: w.ClipID, SpanStartS: w.Row.Start, SpanEndS: w.Row.End,
		ErrorClass: class, Message: manifest.SafeMessage(w.Row.URI, msg), Stage: stage, Attempt: w.Attempt,
	}}
}

// Work is a manifest row with its clip id, the unit of decoding.
type Work struct {
	Row     manifest.Row
	ClipID  string
	Attempt int // 1 + the attempts recorded in an earlier failures table
}

// Decoded is a sampled clip travelling from the decoder to the teacher (fused, never shuffled).
type Decoded struct {
	Work       Work
	Frames     []byte // [T, S, S, 3]
	FramePTS   []int64
	FrameTimeS []float64
	Padded     int32   // frames repeating a neighbour (--on-missing=pad)
	Damaged    int32   // damaged frames kept (--on-corrupt=keep)
	CaptionIDs []int32 // [C, L] with a tokenizer, else nil
	CaptionMsk []uint8 // [C, L]
}

// GroupResult is what a group writer committed.
type GroupResult struct {
	Key      string
	Shards   []string
	Failures string // failures file name, "" when the group had none
	OK       int64
	Failed   int64
	Bytes    int64
}

func init() {
	for _, t := range []any{manifest.Row{}, Item{}, Work{}, Decoded{}, GroupResult{}, schemas.FailureRow{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
}

// groupOf is the group number of a manifest row.
func groupOf(index int64, groupClips int) int64 { return index / int64(groupClips) }

// groupKey names a group's shards from its number and its content (the clip ids and failures
// it holds, and the dataset provenance), so a changed manifest or configuration never reuses
// a name for different bytes, while a rerun over the same input reuses them exactly.
func groupKey(group int64, prov string, items []Item) string {
	h := sha256.New()
	h.Write([]byte(prov))
	for _, it := range items {
		failed := it.Kind == ItemFailed
		fmt.Fprintf(h, "\x00%d\x00%s\x00%t", it.Index, it.ClipID, failed)
		if failed { // a retried failure that fails again is a new file, not a clash with the old one
			fmt.Fprintf(h, "\x00%d\x00%s", it.Failure.Attempt, it.Failure.ErrorClass)
		}
	}
	return fmt.Sprintf("%06d-%s", group, hex.EncodeToString(h.Sum(nil))[:12])
}
