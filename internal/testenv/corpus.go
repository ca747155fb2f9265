package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/schemas"
)

// CorpusEntry is one line of the video corpus's manifest.jsonl (testdata/videos/README.md
// describes every field): the ffprobe/ffmpeg-derived truth the video, prep and CLI tests check.
type CorpusEntry struct {
	Path          string   `json:"path"`
	Expect        string   `json:"expect"` // ok or the failure class a whole-file check gives
	Caption       string   `json:"caption"`
	SizeBytes     int64    `json:"size_bytes"`
	Opens         *bool    `json:"opens"`
	Codec         *string  `json:"codec"`
	Container     *string  `json:"container"`
	FormatName    *string  `json:"format_name"`
	Width         int      `json:"width"`
	Height        int      `json:"height"`
	Rotation      int      `json:"rotation"`
	DisplayWidth  int      `json:"display_width"`
	DisplayHeight int      `json:"display_height"`
	SAR           *string  `json:"sar"`
	PixFmt        string   `json:"pix_fmt"`
	DurationS     *float64 `json:"duration_s"`
	StreamDurS    *float64 `json:"stream_duration_s"`
	StartTimeS    *float64 `json:"start_time_s"`
	NbFrames      *int64   `json:"nb_frames"`
	NbFramesHdr   *int64   `json:"nb_frames_header"`
	HasAudio      bool     `json:"has_audio"`
	AudioCodec    *string  `json:"audio_codec"`
	TimeBase      string   `json:"time_base"`
	ColorSpace    *string  `json:"color_space"`
	ColorRange    *string  `json:"color_range"`
	LastPtsS      *float64 `json:"last_frame_pts_s"`
	FPS           *struct {
		Avg  string  `json:"avg_frame_rate"`
		R    string  `json:"r_frame_rate"`
		AvgF float64 `json:"avg"`
	} `json:"fps"`
	Frames []RefFrame `json:"frames"`

	// SpanStartS/SpanEndS make the entry a manifest row with a span over Path (nil: the whole
	// video); Expect is then the row's class.
	SpanStartS *float64 `json:"span_start_s"`
	SpanEndS   *float64 `json:"span_end_s"`
	// Padded says a sampled row of this entry may hold padded frames; without it an ok entry's
	// rows hold none.
	Padded bool `json:"padded"`
	// ConcealedFrames counts the frames FFmpeg reported concealing ("concealing N errors")
	// while decoding the whole file; DecodedEndS/DeclaredEndS are where its last frame ends
	// and where the container says it ends (seconds from the container start).
	ConcealedFrames *int     `json:"concealed_frames"`
	DecodedEndS     *float64 `json:"decoded_end_s"`
	DeclaredEndS    *float64 `json:"declared_end_s"`
}

// RefFrame is one reference frame of an entry (see the corpus README).
type RefFrame struct {
	Pct        int      `json:"pct"`
	SS         string   `json:"ss"`
	Autorotate bool     `json:"autorotate"`
	File       *string  `json:"file"`
	PtsTime    *float64 `json:"pts_time"`
	Pts        *int64   `json:"pts"`
	Ideal      bool     `json:"cli_matches_ideal"`
	IdealFile  *string  `json:"ideal_file"`
	IdealPts   *float64 `json:"ideal_pts_time"`
}

// HasSpan reports whether the entry is a row over part of its video.
func (e CorpusEntry) HasSpan() bool { return e.SpanStartS != nil || e.SpanEndS != nil }

// Span returns the entry's span in seconds (0, 0 for the whole video).
func (e CorpusEntry) Span() (start, end float64) {
	if e.SpanStartS != nil {
		start = *e.SpanStartS
	}
	if e.SpanEndS != nil {
		end = *e.SpanEndS
	}
	return start, end
}

// SampledOutcomes lists the outcomes ("ok" or a class) a run that samples a few frames of the
// entry may give: its truth, and also "ok" for a corrupt file that opens and decodes frames,
// because the damage may lie between the sampled frames (a whole-file check finds it always).
func (e CorpusEntry) SampledOutcomes() []string {
	if e.Expect == "corrupt" && e.Opens != nil && *e.Opens && e.NbFrames != nil && *e.NbFrames > 0 {
		return []string{"corrupt", "ok"}
	}
	return []string{e.Expect}
}

// FoundByDecodingOnly reports whether the entry's class shows only when decoding reaches the
// damage: a truncated stream that stops well (over 0.25 s) before its declared end, which a
// probe cannot see (a Matroska file cut where no index says what is lost).
func (e CorpusEntry) FoundByDecodingOnly() bool {
	return e.Expect == "truncated" && e.DecodedEndS != nil && e.DeclaredEndS != nil && *e.DeclaredEndS-*e.DecodedEndS > 0.25
}

// Corpus returns the video corpus directory (Videos) and its entries, failing the test when
// the manifest is missing, malformed or empty.
func Corpus(tb testing.TB) (string, []CorpusEntry) {
	tb.Helper()
	dir := Videos(tb)
	f, err := os.Open(filepath.Join(dir, "manifest.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []CorpusEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e CorpusEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			tb.Fatalf("%s/manifest.jsonl: %v", dir, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("%s/manifest.jsonl has no entries", dir)
	}
	return dir, out
}

// CheckOutcomes checks every corpus entry's outcome in a run over entries (paths under root)
// plus one malformed manifest row and one duplicate: fails is the run's failures table. Each
// entry must be ok or fail with a class its truth allows; exactly one manifest and one
// duplicate failure. It returns how many entries came out ok.
func CheckOutcomes(tb testing.TB, root string, entries []CorpusEntry, fails []schemas.FailureRow) int64 {
	tb.Helper()
	classOf := map[string]string{}
	extra := map[schemas.FailureClass]int{}
	for _, f := range fails {
		if f.ErrorClass == schemas.ClassManifest || f.ErrorClass == schemas.ClassDuplicate {
			extra[f.ErrorClass]++
			continue
		}
		classOf[fmt.Sprintf("%s|%g|%g", f.URI, f.SpanStartS, f.SpanEndS)] = string(f.ErrorClass)
	}
	if extra[schemas.ClassManifest] != 1 || extra[schemas.ClassDuplicate] != 1 {
		tb.Errorf("manifest/duplicate failures = %v, want one of each", extra)
	}
	var ok int64
	for _, e := range entries {
		a, b := e.Span()
		got, failed := classOf[fmt.Sprintf("%s|%g|%g", filepath.Join(root, e.Path), a, b)]
		if !failed {
			got = "ok"
			ok++
		}
		if !slices.Contains(e.SampledOutcomes(), got) {
			tb.Errorf("%s [%g, %g]: outcome %q, want one of %v", e.Path, a, b, got, e.SampledOutcomes())
		}
	}
	return ok
}
