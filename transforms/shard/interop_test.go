package shard

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/schemas/schematest"
)

// jsRow is what tools/node/read_shard.js reports per row.
type jsRow struct {
	ClipID               string    `json:"clip_id"`
	SourceURI            string    `json:"source_uri"`
	SpanStartS           float64   `json:"span_start_s"`
	Caption              *string   `json:"caption"`
	Label                *string   `json:"label"`
	FrameTimeS           []float64 `json:"frame_time_s"`
	FramePTS             []int64   `json:"frame_pts"`
	FramesLen            int       `json:"frames_len"`
	FramesSum            int64     `json:"frames_sum"`
	TeacherLayers        []int32   `json:"teacher_layers"`
	TeacherTokensLen     int       `json:"teacher_tokens_len"`
	TeacherTokensLast    int32     `json:"teacher_tokens_last"`
	TeacherFeaturesLen   int       `json:"teacher_features_len"`
	TeacherFeaturesFirst []uint16  `json:"teacher_features_first"`
	TeacherFeaturesLast  uint16    `json:"teacher_features_last"`
	TeacherCLSAttnFirst  uint16    `json:"teacher_cls_attn_first"`
	MasksLen             *int      `json:"masks_len"`
	PaddedFrames         int32     `json:"padded_frames"`
	DamagedFrames        int32     `json:"damaged_frames"`
	ExtraCaptions        []string  `json:"extra_captions"`
	CaptionIDs           []int32   `json:"caption_ids"`
	CaptionMask          []uint8   `json:"caption_mask"`
}

// Shards must be readable by an independent Arrow implementation: the apache-arrow npm package
// under Node.js (installed by scripts/setup.d/shard.sh into tools/node), for every compression.
func TestNodeInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; scripts/setup.sh installs Node.js and apache-arrow for this test")
	}
	root := testenv.RepoRoot(t)
	script := filepath.Join(root, "tools", "node", "read_shard.js")
	if _, err := os.Stat(filepath.Join(root, "tools", "node", "node_modules", "apache-arrow")); err != nil {
		t.Fatalf("apache-arrow is not installed in tools/node: run scripts/setup.sh (or: npm ci --prefix tools/node)")
	}
	ctx := context.Background()
	for _, comp := range []string{CompressLZ4, CompressNone} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			p := schematest.WithText(small("visible:2"), 5)
			rows := rowsFor(p, 41, 5)
			names := writeAll(t, openStore(t, dir), p, rows, []string{"js"}, WriterOptions{BatchRows: 2, Compression: comp})
			if _, err := WriteFailures(ctx, openStore(t, dir), "js", []schemas.FailureRow{{URI: "x.mp4", ErrorClass: "truncated", Stage: "decode", Attempt: 2}}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(node, script, filepath.Join(dir, names[0]), filepath.Join(dir, FailuresName("js")))
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("node: %v\n%s", err, stderr)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			var got struct {
				Rows          int    `json:"rows"`
				Batches       int    `json:"batches"`
				SchemaVersion string `json:"schema_version"`
				Provenance    schemas.Provenance
				RowsSample    []jsRow `json:"rows_sample"`
			}
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatal(err)
			}
			p.SchemaVersion = schemas.ClipSchemaVersion
			if got.Rows != len(rows) || got.Batches != 3 || got.SchemaVersion != strconv.Itoa(schemas.ClipSchemaVersion) || !sameProvenance(got.Provenance, p) {
				t.Fatalf("node read rows=%d batches=%d version=%s provenance=%+v", got.Rows, got.Batches, got.SchemaVersion, got.Provenance)
			}
			for i, r := range rows {
				j := got.RowsSample[i]
				var sum int64
				for _, b := range r.Frames {
					sum += int64(b)
				}
				strOrNil := func(s string) *string {
					if s == "" {
						return nil
					}
					return &s
				}
				want := jsRow{ClipID: r.ClipID, SourceURI: r.SourceURI, SpanStartS: r.SpanStartS, Caption: strOrNil(r.Caption), Label: strOrNil(r.Label),
					FrameTimeS: r.FrameTimeS, FramePTS: r.FramePTS, FramesLen: len(r.Frames), FramesSum: sum, TeacherLayers: r.TeacherLayers,
					TeacherTokensLen: len(r.TeacherTokens), TeacherTokensLast: r.TeacherTokens[len(r.TeacherTokens)-1],
					TeacherFeaturesLen: len(r.TeacherFeatures), TeacherFeaturesFirst: r.TeacherFeatures[:4],
					TeacherFeaturesLast: r.TeacherFeatures[len(r.TeacherFeatures)-1], TeacherCLSAttnFirst: r.TeacherCLSAttn[0], MasksLen: &[]int{len(r.Masks)}[0],
					PaddedFrames: r.PaddedFrames, DamagedFrames: r.DamagedFrames, ExtraCaptions: r.ExtraCaptions, CaptionIDs: r.CaptionIDs, CaptionMask: r.CaptionMask}
				if want.ExtraCaptions == nil {
					want.ExtraCaptions = []string{}
				}
				if want.CaptionIDs == nil {
					want.CaptionIDs, want.CaptionMask = []int32{}, []uint8{}
				}
				wb, _ := json.Marshal(want)
				gb, _ := json.Marshal(j)
				if string(wb) != string(gb) {
					t.Fatalf("row %d as read by apache-arrow (JS):\n got %s\nwant %s", i, gb, wb)
				}
			}
			var fails struct {
				Rows   int    `json:"rows"`
				Schema string `json:"schema"`
			}
			if err := json.Unmarshal([]byte(lines[1]), &fails); err != nil || fails.Rows != 1 || fails.Schema != "failures" {
				t.Fatalf("failures file as read by JS: %s (%v)", lines[1], err)
			}
		})
	}
}
