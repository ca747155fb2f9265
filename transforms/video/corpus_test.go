package video

import (
	"bufio"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

// entry is one line of the corpus manifest.jsonl (only the fields the tests use).
type entry struct {
	Path          string   `json:"path"`
	Expect        string   `json:"expect"`
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
	Frames []refFrame `json:"frames"`
}

type refFrame struct {
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

func loadCorpus(t testing.TB) (string, []entry) {
	t.Helper()
	dir := testenv.Videos(t)
	f, err := os.Open(filepath.Join(dir, "manifest.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("manifest line: %v", err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s/manifest.jsonl has no entries", dir)
	}
	return dir, out
}

// acceptable lists the classes accepted for an entry. A file the manifest calls corrupt but
// that FFmpeg opens and mostly decodes ("lenient decoders may return frames", corpus README)
// may also come back ok.
func acceptable(e entry) []string {
	want := e.Expect
	if want == "ok" {
		want = ""
	}
	if e.Expect == "corrupt" && e.Opens != nil && *e.Opens && e.NbFrames != nil && *e.NbFrames > 0 {
		return []string{want, ""}
	}
	return []string{want}
}

func readPNG(t testing.TB, path string) ([]byte, int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			switch p := img.(type) {
			case *image.RGBA:
				i := p.PixOffset(x, y)
				out = append(out, p.Pix[i], p.Pix[i+1], p.Pix[i+2])
			case *image.NRGBA:
				i := p.PixOffset(x, y)
				out = append(out, p.Pix[i], p.Pix[i+1], p.Pix[i+2])
			default:
				r, g, bb, _ := img.At(x, y).RGBA()
				out = append(out, byte(r>>8), byte(g>>8), byte(bb>>8))
			}
		}
	}
	return out, b.Dx(), b.Dy()
}

// psnr of two equal-length RGB buffers (Inf when identical), plus max abs difference.
func psnr(a, b []byte) (float64, int) {
	var se float64
	maxd := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		maxd = max(maxd, d)
		se += float64(d * d)
	}
	if se == 0 {
		return math.Inf(1), 0
	}
	mse := se / float64(len(a))
	return 10 * math.Log10(255*255/mse), maxd
}
