package video

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umt-dev/umt/schemas"
)

// TestCorpusWholeFileClassIsTruth decodes every frame of every corpus file (Check) and asserts
// the class its ground truth gives, exactly: the classes a sampled run can only bound
// (a corrupt file whose damage falls between samples) are decided here. Ok files have no
// damaged frame, no lost stretch, and end within the end tolerance of their declared end.
func TestCorpusWholeFileClassIsTruth(t *testing.T) {
	dir, entries := loadCorpus(t)
	for _, e := range entries {
		if e.HasSpan() {
			continue // a row's span over a file: TestCorpusSampleFileVsReader checks it
		}
		t.Run(e.Path, func(t *testing.T) {
			r := Check(context.Background(), FileSource(filepath.Join(dir, e.Path)), 60*time.Second)
			want := e.Expect
			if want == "ok" {
				want = ""
			}
			if string(r.Class) != want {
				t.Fatalf("class %q (%s), want %q", r.Class, r.Error, e.Expect)
			}
			if r.Class == "internal" {
				t.Fatalf("unclassified: %s", r.Error)
			}
			if want != "" {
				return
			}
			if r.DamagedFrames != 0 || r.LostStretches != 0 {
				t.Fatalf("ok file with %d damaged frames, %d lost stretches", r.DamagedFrames, r.LostStretches)
			}
			if e.NbFrames != nil && int64(r.FramesDecoded) != *e.NbFrames {
				t.Errorf("decoded %d frames, ffprobe counts %d", r.FramesDecoded, *e.NbFrames)
			}
			if e.DecodedEndS != nil && r.DecodedEndS-*e.DecodedEndS > 0.05 || e.DecodedEndS != nil && *e.DecodedEndS-r.DecodedEndS > 0.05 {
				t.Errorf("decodes to %.3f s, ffprobe's frames end at %.3f s", r.DecodedEndS, *e.DecodedEndS)
			}
		})
	}
	assertNoLiveObjects(t)
}

// TestNoCorpusEntryIsInternal: every corpus entry, file or row with a span, sampled or checked
// whole, ends in a class that says whose fault it is, never "internal".
func TestNoCorpusEntryIsInternal(t *testing.T) {
	dir, entries := loadCorpus(t)
	for _, e := range entries {
		path := filepath.Join(dir, e.Path)
		cfg := DefaultSampleConfig()
		cfg.Size, cfg.Deadline = 16, 30*time.Second
		cfg.Start, cfg.End = e.Span()
		_, err := Sample(context.Background(), FileSource(path), cfg)
		if Class(err) == "internal" {
			t.Errorf("%s: Sample: internal: %v", e.Path, err)
		}
		if r := Check(context.Background(), FileSource(path), 30*time.Second); r.Class == "internal" {
			t.Errorf("%s: Check: internal: %s", e.Path, r.Error)
		}
	}
}

// TestTruncatedMessageGivesDecodableFraction: a Matroska file cut where no index says what is
// lost fails as truncated with how much of its declared duration decodes, and only
// OnMissing "pad" makes it a clip, with the padded frames counted.
func TestTruncatedMessageGivesDecodableFraction(t *testing.T) {
	path := corpusFile(t, "bad/truncated_30pct_nocues.mkv")
	cfg := DefaultSampleConfig()
	cfg.Size = 16
	_, err := Sample(context.Background(), FileSource(path), cfg)
	if Class(err) != "truncated" || !strings.Contains(err.Error(), "decodes to 2.00 s of a declared 6.00 s") {
		t.Fatalf("err %v, want truncated with \"decodes to 2.00 s of a declared 6.00 s\"", err)
	}
	cfg.OnMissing = "pad"
	clip, err := Sample(context.Background(), FileSource(path), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if clip.Padded != 5 || !clip.ReachedEnd || clip.DeclaredEndS != 6 {
		t.Fatalf("padded %d (want 5), reached end %v, declared end %v", clip.Padded, clip.ReachedEnd, clip.DeclaredEndS)
	}
	for k, ts := range clip.TimeS {
		if clip.Missing[k] != (clip.Targets[k] > 2.0) {
			t.Errorf("frame %d: target %.2f s, missing %v", k, clip.Targets[k], clip.Missing[k])
		}
		if ts > 2.0 {
			t.Errorf("frame %d at %.2f s: past what decodes", k, ts)
		}
	}
}

// TestCorruptPolicy: a sampled frame FFmpeg concealed fails the clip as corrupt naming its
// time and FFmpeg's report; OnCorrupt "keep" returns the clip with the damaged frames
// counted and marked.
func TestCorruptPolicy(t *testing.T) {
	path := corpusFile(t, "bad/corrupt_noise_faststart.mp4")
	r := Check(context.Background(), FileSource(path), 30*time.Second)
	if r.Class != "corrupt" || r.DamagedFrames == 0 {
		t.Fatalf("Check: class %q, %d damaged frames (%s)", r.Class, r.DamagedFrames, r.Error)
	}
	cfg := DefaultSampleConfig()
	cfg.Size, cfg.Sampler, cfg.Frames = 16, "fps25", 0 // every frame: the damage is sampled
	_, err := Sample(context.Background(), FileSource(path), cfg)
	if Class(err) != "corrupt" || !strings.Contains(err.Error(), " s") {
		t.Fatalf("fail: err %v, want corrupt", err)
	}
	cfg.OnCorrupt, cfg.OnMissing = "keep", "pad"
	clip, err := Sample(context.Background(), FileSource(path), cfg)
	if err != nil {
		t.Fatalf("keep: %v", err)
	}
	n := 0
	for _, d := range clip.DamagedAt {
		if d {
			n++
		}
	}
	if clip.Damaged == 0 || n != clip.Damaged {
		t.Fatalf("keep: Damaged %d, marked %d", clip.Damaged, n)
	}
	// a target before the damage: no failure, the damaged frames decoded on the way are not there
	cfg.OnCorrupt, cfg.Sampler, cfg.Frames = "fail", "at:0.5,1.0", 0
	if _, err := Sample(context.Background(), FileSource(path), cfg); err != nil {
		t.Fatalf("targets before the damage: %v", err)
	}
	// a target after the damage, decoded sequentially through it: the damaged frames on the
	// way are warnings (DamagedSkipped), not a failure
	cfg.Sampler, cfg.Seek = "at:4.5", "never"
	clip, err = Sample(context.Background(), FileSource(path), cfg)
	if err != nil {
		t.Fatalf("target after the damage: %v", err)
	}
	if clip.Damaged != 0 || clip.DamagedSkipped == 0 {
		t.Fatalf("target after the damage: Damaged %d (want 0), DamagedSkipped %d (want > 0)", clip.Damaged, clip.DamagedSkipped)
	}
}

// TestEveryClassIsAFailuresTableClass: what Class returns can be written to a failures table.
func TestEveryClassIsAFailuresTableClass(t *testing.T) {
	for _, c := range Classes() {
		if !c.Known() {
			t.Errorf("video class %q is not in schemas.FailureClasses", c)
		}
	}
	if c := Class(fmt.Errorf("wrapped: %w", ErrBadSpan)); c != schemas.ClassBadSpan {
		t.Errorf("a wrapped ErrBadSpan is %q", c)
	}
}
