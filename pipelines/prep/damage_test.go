package prep

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/video"
)

// TestPadAndKeepAreCounted runs prep over every damaged corpus entry (and a few whole files)
// with --on-missing=pad and --on-corrupt=keep: truncated and concealed-damage files become
// rows that store their padded and damaged frame counts, every other class stays a failure,
// ok + failed == rows, and the report's padded and
// damaged frame counts equal what sampling each clip directly gives. The default run
// (TestEndToEnd) writes no padded and no damaged frame.
func TestPadAndKeepAreCounted(t *testing.T) {
	root, entries := subset(t)
	out := filepath.Join(t.TempDir(), "ds")
	cfg := tinyConfig(t, writeManifest(t, entries), root, out)
	cfg.OnMissing, cfg.OnCorrupt = "pad", "keep"
	rep, err := prepareRun(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Summary())
	var padded, damaged, skipped, ok int64
	rowsByClass := map[string]int{}
	_, rows, _ := datasetContents(t, out) // by clip id
	for _, e := range entries {
		uri := filepath.Join(root, e.Path)
		a, b := e.Span()
		id := schemas.ClipID(uri, a, b, cfg.SamplerString())
		c, err := video.Sample(context.Background(), video.FileSource(uri), cfg.SampleConfig(id, a, b))
		if err != nil {
			if slices.Contains(e.SampledOutcomes(), string(video.Class(err))) {
				continue // a failure pad/keep cannot turn into a row (no frame at all, not a video, ...)
			}
			t.Errorf("%s: sampled directly: %v, truth %q", e.Path, err, e.Expect)
			continue
		}
		ok++
		rowsByClass[e.Expect]++
		if r := rows[id]; r.PaddedFrames != int32(c.Padded) || r.DamagedFrames != int32(c.Damaged) {
			t.Errorf("%s: the row stores %d padded and %d damaged frames; sampling gives %d and %d", e.Path, r.PaddedFrames, r.DamagedFrames, c.Padded, c.Damaged)
		}
		padded += int64(c.Padded)
		damaged += int64(c.Damaged)
		skipped += int64(c.DamagedSkipped)
	}
	if rep.OK != ok || !rep.Accounted {
		t.Errorf("report: %d ok (accounted %v), sampling directly gives %d rows", rep.OK, rep.Accounted, ok)
	}
	if rep.PaddedFrames != padded || rep.DamagedFrames != damaged || rep.DamagedSkipped != skipped {
		t.Errorf("report: %d padded, %d damaged, %d skipped; sampling each clip: %d, %d, %d", rep.PaddedFrames, rep.DamagedFrames, rep.DamagedSkipped, padded, damaged, skipped)
	}
	if padded == 0 || rowsByClass["truncated"] == 0 {
		t.Errorf("with --on-missing=pad no truncated entry became a padded row (rows by truth class %v)", rowsByClass)
	}
}
