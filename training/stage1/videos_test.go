package stage1

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// videoDataset builds a real dataset the way prep does, minus Beam and decoding: every video of
// the test corpus with ground-truth frames (ffmpeg-decoded PNGs at 10/50/90 % of the video,
// 224×224) becomes one 3-frame clip, area-downscaled to 64 px; the reference set's tiny CLIP
// teacher (models/clip, OpenAI-named weights) computes targets and CLS attention; rows go through
// the shard writer and index and come back through shard.Open.
func videoDataset(t *testing.T) (*shard.Dataset, schemas.Provenance) {
	t.Helper()
	frameDir := filepath.Join(testenv.Videos(t), "frames")
	ents, err := os.ReadDir(frameDir)
	if err != nil {
		t.Fatal(err)
	}
	byVideo := map[string][]string{}
	for _, e := range ents {
		name := e.Name()
		if i := strings.LastIndex(name, "_p"); i > 0 && strings.HasSuffix(name, ".png") {
			byVideo[name[:i]] = append(byVideo[name[:i]], filepath.Join(frameDir, name))
		}
	}
	var videos []string
	for v, fs := range byVideo {
		if len(fs) == 3 {
			sort.Strings(fs) // p10, p50, p90
			videos = append(videos, v)
		}
	}
	sort.Strings(videos)
	if len(videos) < 8 {
		t.Skipf("only %d videos with 3 ground-truth frames under %s", len(videos), frameDir)
	}
	ctx := context.Background()
	ref, m := testenv.RefData(t), testenv.RefStage1(t)
	w, tcfg, err := clip.Load(ctx, filepath.Join(ref, "teacher_tiny_openai.safetensors"), clip.LoadOptions{Config: clip.Config{
		Heads: m.Teacher.Heads, Resolution: m.Img, ReturnLayers: m.Teacher.ReturnLayers, ReturnInterval: m.Teacher.ReturnInterval}})
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{})
	teacher, err := clip.New(be, tcfg, w, clip.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()
	T, S := 3, m.Img
	hw := tcfg.Grid() * tcfg.Grid()
	p := schemas.Provenance{SchemaVersion: schemas.ClipSchemaVersion, UMTVersion: "test", Teacher: "refdata tiny CLIP", TeacherSHA256: "00",
		Resolution: S, Normalisation: "imagenet", Sampler: "frames p10/p50/p90", Layout: "full", Precision: schemas.PrecisionF16,
		MaskRatio: m.MaskRatio, Frames: T, Size: S, K: tcfg.ReturnLayers, HW: hw, D: tcfg.OutputDim}
	dir := t.TempDir()
	store, err := storage.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := shard.NewWriter(store, p, shard.WriterOptions{Key: "videos"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range videos {
		frames := make([]byte, 0, T*S*S*3)
		for _, f := range byVideo[v] {
			frames = append(frames, downscale(t, f, S)...)
		}
		feats, attn, err := teacher.Encode(frames, 1, T, S, S)
		if err != nil {
			t.Fatal(err)
		}
		r := schemas.ClipRow{SourceURI: v, SpanEndS: 1, FramePTS: make([]int64, T), FrameTimeS: make([]float64, T), Frames: frames}
		r.ClipID = schemas.ClipID(v, 0, 1, p.Sampler)
		for k := 0; k < p.K; k++ {
			r.TeacherLayers = append(r.TeacherLayers, int32(tcfg.ReturnIndices()[k]))
		}
		for n := 0; n < T*hw; n++ {
			r.TeacherTokens = append(r.TeacherTokens, int32(n))
		}
		r.TeacherFeatures = schemas.F16Bits(nil, feats)
		r.TeacherCLSAttn = schemas.F16Bits(nil, attn)
		if err := wr.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := wr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := shard.CommitIndex(ctx, dir, shard.IndexOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := shard.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	return ds, ds.Provenance()
}

// downscale reads a square RGB PNG and area-averages it to s×s, uint8 HWC.
func downscale(t *testing.T, path string, s int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	n := b.Dx()
	out := make([]byte, 0, s*s*3)
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			var acc [3]uint32
			var cnt uint32
			for yy := y * n / s; yy < (y+1)*n/s; yy++ {
				for xx := x * n / s; xx < (x+1)*n/s; xx++ {
					r, g, bl, _ := img.At(b.Min.X+xx, b.Min.Y+yy).RGBA()
					acc[0], acc[1], acc[2] = acc[0]+r>>8, acc[1]+g>>8, acc[2]+bl>>8
					cnt++
				}
			}
			out = append(out, byte((acc[0]+cnt/2)/cnt), byte((acc[1]+cnt/2)/cnt), byte((acc[2]+cnt/2)/cnt))
		}
	}
	return out
}

// TestLearnsFromVideoFrames: on the video corpus dataset (one clip per video with ground-truth
// frames: 12 with the default corpus; batch 2, fresh semantic masks every step), 10 epochs of
// the tiny preset's recipe on the CPU (60 steps, ~1 s) must lower the mean loss of the last epoch
// by at least 0.8 below the first epoch's. Init seeds 1, 2 and 7 give 1.75–1.80 → 0.57–0.63.
func TestLearnsFromVideoFrames(t *testing.T) {
	ds, p := videoDataset(t)
	defer ds.Close()
	c := refConfig(t)
	c.Model.Frames = p.Frames
	c.Epochs, c.WarmupEpochs = 10, 1
	be := cpu.New(cpu.Options{})
	tr, err := New(be, c, ds, p, Options{Out: t.TempDir(), InitSeed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := tr.History()
	per := tr.Loads[0].BatchesPerEpoch()
	mean := func(ms []Metrics) float64 {
		var s float64
		for _, m := range ms {
			s += m.Loss
		}
		return s / float64(len(ms))
	}
	first, last := mean(h[:per]), mean(h[len(h)-per:])
	t.Logf("%d clips, %d steps: epoch-mean loss %.4f (first) → %.4f (last)", ds.Len(), len(h), first, last)
	if first-last < 0.8 {
		t.Fatalf("loss fell only %.4f → %.4f", first, last)
	}
}
