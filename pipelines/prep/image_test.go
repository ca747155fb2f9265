package prep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/video"
)

// imageFixture is one entry of transforms/video/testdata/images/manifest.jsonl.
type imageFixture struct {
	Path   string `json:"path"`
	Expect string `json:"expect"`
}

// imageManifest writes a UMT JSON annotation list with every image fixture as an "image"
// entry and one video entry, and returns it with the fixtures.
func imageManifest(t *testing.T) (string, string, []imageFixture) {
	dir := filepath.Join(testenv.RepoRoot(t), "transforms", "video", "testdata", "images")
	f, err := os.Open(filepath.Join(dir, "manifest.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fx []imageFixture
	var list []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e imageFixture
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		fx = append(fx, e)
		list = append(list, map[string]string{"image": filepath.Join(dir, e.Path), "caption": "image " + e.Path})
	}
	video := filepath.Join(testenv.Videos(t), "synthetic", "h264_baseline_640x360_25fps_faststart.mp4")
	list = append(list, map[string]string{"video": video, "caption": "a video among the images"})
	p := filepath.Join(t.TempDir(), "anno.json")
	b, _ := json.Marshal(list)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, dir, fx
}

// TestImageEntries: "image" entries of a UMT JSON list are 1-frame clips. In a 1-frame dataset
// each good image's row holds exactly what video.SampleImage renders and the teacher's output
// on it; bad images fail with their fixture class. In a T-frame dataset they fail as
// unsupported, unless --on_missing=pad repeats the image T times. The video entry is kept in
// every case, and ok + failed always equals the manifest's rows.
func TestImageEntries(t *testing.T) {
	m, dir, fx := imageManifest(t)
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		frames    int
		onMissing string
	}{{"T=1", 1, "fail"}, {"T=4", 4, "fail"}, {"T=4 pad", 4, "pad"}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(t, m, "", filepath.Join(t.TempDir(), "ds"))
			cfg.Frames, cfg.OnMissing = c.frames, c.onMissing
			rep := mustRun(t, cfg)
			if !rep.Accounted || rep.Rows != int64(len(fx)+1) {
				t.Fatalf("report: rows %d ok %d failed %d, want %d rows accounted", rep.Rows, rep.OK, rep.Failed, len(fx)+1)
			}
			pcfg, err := Prepare(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := shard.Open(ctx, cfg.Output)
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			fails, err := ds.Failures(ctx)
			if err != nil {
				t.Fatal(err)
			}
			classOf := map[string]string{}
			for _, f := range fails {
				classOf[f.URI] = string(f.ErrorClass)
			}
			rows := map[string]schemas.ClipRow{}
			ds.Scan(ctx, func(_ int, r schemas.ClipRow) error { rows[r.SourceURI] = r.Clone(); return nil })
			if len(rows)+len(fails) != len(fx)+1 {
				t.Fatalf("%d rows + %d failures for %d entries", len(rows), len(fails), len(fx)+1)
			}
			for _, e := range fx {
				uri := filepath.Join(dir, e.Path)
				want := e.Expect
				if c.frames > 1 && c.onMissing != "pad" {
					want = string(schemas.ClassUnsupported)
				}
				got := classOf[uri]
				if _, ok := rows[uri]; ok {
					got = "ok"
				}
				if got != want {
					t.Errorf("%s: outcome %q, want %q", e.Path, got, want)
					continue
				}
				if got == "ok" {
					checkImageRow(t, pcfg, rows[uri])
				}
			}
			if len(rows) == 0 {
				t.Fatal("no image or video rows")
			}
		})
	}
}

// checkImageRow compares an image's row with rendering it directly (repeated T times) and, for
// every frame count, with calling the teacher on those frames.
func checkImageRow(t *testing.T, cfg Plan, row schemas.ClipRow) {
	t.Helper()
	ctx := context.Background()
	c, err := video.SampleImage(ctx, video.FileSource(row.SourceURI), cfg.SampleConfig(row.ClipID, 0, 0))
	if err != nil {
		t.Fatalf("%s: %v", row.SourceURI, err)
	}
	want := bytes.Repeat(c.Frames, cfg.Frames)
	if !bytes.Equal(row.Frames, want) || !slices.Equal(row.FramePTS, make([]int64, cfg.Frames)) {
		t.Errorf("%s: stored frames differ from SampleImage's frame repeated %d times", row.SourceURI, cfg.Frames)
	}
	teacher, _, err := loadTeacher(cfg.Teacher, "", cfg.TeacherConfig, cfg.Frames, 1, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()
	feats, attn, err := teacher.Encode(want, 1, cfg.Frames, cfg.Size, cfg.Size)
	if err != nil {
		t.Fatal(err)
	}
	d := Decoded{Work: Work{Row: manifest.Row{URI: row.SourceURI, Caption: row.Caption, Image: true}, ClipID: row.ClipID},
		Frames: want, FramePTS: make([]int64, cfg.Frames), FrameTimeS: make([]float64, cfg.Frames)}
	ref, err := newRowMaker(cfg).one(d, feats, attn)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ref.TeacherFeatures, row.TeacherFeatures) || !slices.Equal(ref.Masks, row.Masks) {
		a, b := schemas.Float32s(nil, ref.TeacherFeatures), schemas.Float32s(nil, row.TeacherFeatures)
		var maxd float32
		nd := 0
		for i := range a {
			if d := max(a[i]-b[i], b[i]-a[i]); d > 0 {
				nd++
				maxd = max(maxd, d)
			}
		}
		t.Errorf("%s: stored teacher features or masks differ from calling the teacher directly (%d of %d values, max abs %g; masks equal %v)", row.SourceURI, nd, len(a), maxd, slices.Equal(ref.Masks, row.Masks))
	}
}

// TestTeacherCallShape: the teacher runs calls of one shape, so a clip's features do not depend
// on which clips share its call. Property: in a fixed 3-slot call, a clip's outputs are the same
// bits in every slot and with any neighbours (zero padding included). Pipeline: with 3 slots
// forced (the GPU path), runs that gather 1 and 3 clips per flush write the same dataset, and
// each row equals a padded call with the clip in slot 0. It runs on the pure-Go GEMM: OpenBLAS
// on an AVX-512 CPU gives rows at different positions different low bits, which is why the CPU
// path itself runs one clip per call (TestTeacherOneClipPerCallOnCPU).
func TestTeacherCallShape(t *testing.T) {
	m, _, _ := imageManifest(t)
	cfg := tinyConfig(t, m, "", "")
	cfg.Frames = 1
	const slots = 3
	teacherPureGo = true
	defer func() { teacherPureGo = false }()
	tc, _, err := loadTeacher(cfg.Teacher, "", cfg.TeacherConfig, slots*cfg.Frames, 1, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	S, fb := cfg.Size, cfg.Size*cfg.Size*3*cfg.Frames
	clips := make([][]byte, slots)
	for i := range clips {
		clips[i] = make([]byte, fb)
		for j := range clips[i] {
			clips[i][j] = byte((j*7 + i*131 + j*j%251) % 256)
		}
	}
	perSlot := func(order []int) map[int][]float32 {
		frames := make([]byte, 0, slots*fb)
		for _, c := range order {
			if c < 0 {
				frames = append(frames, make([]byte, fb)...)
			} else {
				frames = append(frames, clips[c]...)
			}
		}
		feats, _, err := tc.Encode(frames, slots, cfg.Frames, S, S)
		if err != nil {
			t.Fatal(err)
		}
		per := len(feats) / slots // [K, B, N, D]: gather clip b's K blocks
		K := tc.Config().ReturnLayers
		blk := per / K
		out := map[int][]float32{}
		for b, c := range order {
			if c < 0 {
				continue
			}
			for k := 0; k < K; k++ {
				out[c] = append(out[c], feats[(k*slots+b)*blk:(k*slots+b+1)*blk]...)
			}
		}
		return out
	}
	want := perSlot([]int{0, 1, 2})
	for _, order := range [][]int{{2, 0, 1}, {1, 2, 0}, {0, -1, -1}, {-1, 1, -1}, {-1, -1, 2}, {2, -1, 0}} {
		for c, got := range perSlot(order) {
			if !slices.Equal(got, want[c]) {
				t.Errorf("clip %d in call %v: features differ from call [0 1 2]", c, order)
			}
		}
	}

	teacherSlots = slots
	defer func() { teacherSlots = 0 }()
	var index []string
	for _, batch := range []int{1, slots} {
		c := cfg
		c.BatchClips, c.Output = batch, filepath.Join(t.TempDir(), "ds")
		mustRun(t, c)
		index = append(index, indexOf(t, c.Output))
	}
	if index[0] != index[1] {
		t.Errorf("flushing 1 and %d clips per call wrote different datasets:\n%s\nvs\n%s", slots, index[0], index[1])
	}
}

// TestTeacherOneClipPerCallOnCPU: on the CPU (OpenBLAS, whatever kernels it picks for this CPU)
// a clip's features do not depend on how many clips a bundle gathers per flush, because the CPU
// path calls the teacher one clip at a time.
func TestTeacherOneClipPerCallOnCPU(t *testing.T) {
	m, _, _ := imageManifest(t)
	cfg := tinyConfig(t, m, "", "")
	cfg.Frames = 1
	var index []string
	for _, batch := range []int{1, 3} {
		c := cfg
		c.BatchClips, c.Output = batch, filepath.Join(t.TempDir(), "ds")
		mustRun(t, c)
		index = append(index, indexOf(t, c.Output))
	}
	if index[0] != index[1] {
		t.Errorf("flushing 1 and 3 clips per call on the CPU wrote different datasets:\n%s\nvs\n%s", index[0], index[1])
	}
}
