package video

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCorpusProbe checks every manifest entry: the error class equals `expect`, and for ok
// files the probe fields equal ffprobe's ground truth. Tolerances: durations ±1 ms (ffprobe
// prints 6 decimals, we compute from the same integers), start time ±1 µs; everything else
// exact. nb_frames: a header count must equal the container's claim (nb_frames_header);
// an estimate (duration × average rate) must be within 20 % of the decoded count, because
// files that drop frames (real/webrtc_chrome.ogv) have fewer frames than their rate implies.
func TestCorpusProbe(t *testing.T) {
	dir, entries := loadCorpus(t)
	for _, e := range entries {
		if e.HasSpan() {
			continue // a row over a file: Probe sees the file, whose own entry is checked
		}
		t.Run(e.Path, func(t *testing.T) {
			info, err := Probe(context.Background(), FileSource(filepath.Join(dir, e.Path)))
			got := string(Class(err))
			ok := false
			for _, c := range acceptable(e) {
				ok = ok || c == got
			}
			// Probe does not decode: a stream that stops before its declared end (a Matroska
			// file cut where no index says so) only shows when decoding reaches the cut.
			if got == "" && e.FoundByDecodingOnly() {
				return
			}
			if !ok {
				t.Fatalf("class %q (err %v), want %q", got, err, e.Expect)
			}
			if err != nil {
				if !strings.Contains(err.Error(), e.Path) {
					t.Errorf("error %q does not name the input", err)
				}
				return
			}
			if e.Expect != "ok" {
				return
			}
			checkInfo(t, e, info)
		})
	}
	assertNoLiveObjects(t)
}

func checkInfo(t *testing.T, e entry, info Info) {
	t.Helper()
	eqs := func(field, got string, want *string) {
		w := ""
		if want != nil {
			w = *want
		}
		if got != w {
			t.Errorf("%s = %q, want %q", field, got, w)
		}
	}
	eqi := func(field string, got, want int) {
		if got != want {
			t.Errorf("%s = %d, want %d", field, got, want)
		}
	}
	eqs("codec", info.Codec, e.Codec)
	eqs("container", info.Container, e.Container)
	eqs("format_name", info.FormatName, e.FormatName)
	eqs("pix_fmt", info.PixFmt, &e.PixFmt)
	eqs("time_base", info.TimeBase, &e.TimeBase)
	eqs("color_space", info.ColorSpace, e.ColorSpace)
	eqs("color_range", info.ColorRange, e.ColorRange)
	eqs("audio_codec", info.AudioCodec, e.AudioCodec)
	eqs("sar", info.SAR, e.SAR)
	eqi("width", info.Width, e.Width)
	eqi("height", info.Height, e.Height)
	eqi("rotation", info.Rotation, e.Rotation)
	eqi("display_width", info.DisplayWidth, e.DisplayWidth)
	eqi("display_height", info.DisplayHeight, e.DisplayHeight)
	if info.HasAudio != e.HasAudio {
		t.Errorf("has_audio = %v, want %v", info.HasAudio, e.HasAudio)
	}
	if e.FPS != nil {
		eqs("avg_frame_rate", info.AvgFrameRate, &e.FPS.Avg)
		eqs("r_frame_rate", info.RFrameRate, &e.FPS.R)
	}
	near := func(field string, got *float64, want *float64, tol float64) {
		switch {
		case want == nil && got == nil:
		case want == nil || got == nil:
			t.Errorf("%s = %v, want %v", field, ptrStr(got), ptrStr(want))
		case math.Abs(*got-*want) > tol:
			t.Errorf("%s = %.6f, want %.6f (tolerance %g)", field, *got, *want, tol)
		}
	}
	near("container duration", info.ContainerDurationS, e.DurationS, 1e-3)
	near("stream duration", info.StreamDurationS, e.StreamDurS, 1e-3)
	near("start_time", &info.StartTimeS, e.StartTimeS, 1e-6)
	switch info.NbFramesSource {
	case "header":
		if e.NbFramesHdr == nil || info.NbFrames != *e.NbFramesHdr {
			t.Errorf("nb_frames (header) = %d, want %v", info.NbFrames, ptrStr(e.NbFramesHdr))
		}
	case "estimate":
		if e.NbFrames != nil && math.Abs(float64(info.NbFrames-*e.NbFrames)) > 0.2*float64(*e.NbFrames) {
			t.Errorf("nb_frames (estimate) = %d, decoded count %d: off by more than 20%%", info.NbFrames, *e.NbFrames)
		}
	}
}

func ptrStr[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// TestCorpusFrames samples every reference timestamp of every ok entry with "at:ss" and
// compares with the reference PNG: PSNR ≥ 35 dB (we expect bit-exact: the same swscale call
// as ffmpeg's filter chain) and the same presentation time (±half a tick). Where the ffmpeg
// CLI's seek is wrong (MPEG-TS) the reference is the ideal frame of a sequential decode.
// Where the CLI outputs nothing (the target is after the last frame) we must return the last
// frame. Each check runs with seeking ("auto") and with a sequential pass ("never").
func TestCorpusFrames(t *testing.T) {
	dir, entries := loadCorpus(t)
	exact, total := 0, 0
	for _, e := range entries {
		if e.Expect != "ok" || len(e.Frames) == 0 {
			continue
		}
		for _, rf := range e.Frames {
			name := fmt.Sprintf("%s/p%d/rot=%v", e.Path, rf.Pct, rf.Autorotate)
			t.Run(name, func(t *testing.T) {
				ss, err := strconv.ParseFloat(rf.SS, 64)
				if err != nil {
					t.Fatal(err)
				}
				for _, seek := range []string{"auto", "never"} {
					cfg := DefaultSampleConfig()
					cfg.Sampler = "at:" + rf.SS
					cfg.NoAutorotate = !rf.Autorotate
					cfg.Seek = seek
					clip, err := Sample(context.Background(), FileSource(filepath.Join(dir, e.Path)), cfg)
					if err != nil {
						t.Fatalf("seek=%s: %v", seek, err)
					}
					tb := parseRat(t, clip.Info.TimeBase)
					gotAbs := float64(clip.PTS[0]) * tb
					refFile, refPts := rf.File, rf.PtsTime
					if !rf.Ideal && rf.IdealFile != nil {
						refFile, refPts = rf.IdealFile, rf.IdealPts
					}
					if refFile == nil {
						// the CLI gives nothing after the last frame; we give the last frame
						if e.LastPtsS == nil || math.Abs(gotAbs-*e.LastPtsS) > tb/2+1e-6 {
							t.Errorf("seek=%s: t=%s past the end: got pts_time %.6f, want the last frame %v", seek, rf.SS, gotAbs, ptrStr(e.LastPtsS))
						}
						continue
					}
					if math.Abs(gotAbs-*refPts) > tb/2+1e-6 {
						t.Errorf("seek=%s: t=%.6f picked pts_time %.6f, want %.6f", seek, ss, gotAbs, *refPts)
					}
					want, w, h := readPNG(t, filepath.Join(dir, *refFile))
					if w != clip.Width || h != clip.Height {
						t.Fatalf("reference %dx%d, clip %dx%d", w, h, clip.Width, clip.Height)
					}
					p, maxd := psnr(clip.Frames, want)
					if seek == "auto" {
						total++
						if maxd == 0 {
							exact++
						}
					}
					if p < 35 {
						t.Errorf("seek=%s: PSNR %.2f dB < 35 (max abs diff %d) vs %s; first pixels got %v want %v",
							seek, p, maxd, *refFile, clip.Frames[:6], want[:6])
					}
				}
			})
		}
	}
	t.Logf("%d of %d reference frames bit-exact", exact, total)
	assertNoLiveObjects(t)
}

func parseRat(t testing.TB, s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		t.Fatalf("bad rational %q", s)
	}
	a, _ := strconv.ParseFloat(n, 64)
	b, _ := strconv.ParseFloat(d, 64)
	return a / b
}

func assertNoLiveObjects(t testing.TB) {
	t.Helper()
	for k, v := range LiveObjects() {
		if v != 0 {
			t.Errorf("%d %s objects still allocated", v, k)
		}
	}
}
