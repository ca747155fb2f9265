package prep

import (
	"context"
	"github.com/umt-dev/umt/internal/testenv"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
)

// datasetContents reads a committed dataset: provenance, rows by clip id (deep copies) and
// failures sorted by (clip id, uri, class).
func datasetContents(t *testing.T, uri string) (schemas.Provenance, map[string]schemas.ClipRow, []schemas.FailureRow) {
	t.Helper()
	ctx := context.Background()
	ds, err := shard.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := ds.Verify(ctx); err != nil {
		t.Fatalf("verify %s: %v", uri, err)
	}
	rows := map[string]schemas.ClipRow{}
	err = ds.Scan(ctx, func(_ int, r schemas.ClipRow) error {
		rows[r.ClipID] = r.Clone()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fails, err := ds.Failures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(fails, func(i, j int) bool {
		a, b := fails[i], fails[j]
		if a.ClipID != b.ClipID {
			return a.ClipID < b.ClipID
		}
		if a.URI != b.URI {
			return a.URI < b.URI
		}
		return a.ErrorClass < b.ErrorClass
	})
	return ds.Provenance(), rows, fails
}

// TestTwoPhaseEqualsOnePass: --phase=frames then --phase=teacher writes the rows and failures
// of a one-pass run (every column of every row, every failure with its class and message),
// under the same provenance but for the frames dataset it records; the frames dataset itself
// holds the same frames and failures and no teacher columns. Rerunning the teacher phase
// recomputes nothing and rewrites the same index.
func TestTwoPhaseEqualsOnePass(t *testing.T) {
	m, root := smallSet(t, 4)
	tmp := t.TempDir()
	vocab := filepath.Join(testenv.RefData(t), "bert-base-uncased")
	one := tinyConfig(t, m, root, filepath.Join(tmp, "one"))
	one.Tokenizer = vocab // caption tokens made in the frames phase travel through the teacher phase
	oneRep := mustRun(t, one)

	frames := tinyConfig(t, m, root, filepath.Join(tmp, "frames"))
	frames.Phase, frames.Teacher, frames.Tokenizer = PhaseFrames, "", vocab
	framesRep := mustRun(t, frames)
	if framesRep.Phase != PhaseFrames || framesRep.Rows != oneRep.Rows || framesRep.OK != oneRep.OK || framesRep.Failed != oneRep.Failed || !framesRep.Accounted {
		t.Fatalf("frames phase report: phase %s rows %d ok %d failed %d; one pass rows %d ok %d failed %d",
			framesRep.Phase, framesRep.Rows, framesRep.OK, framesRep.Failed, oneRep.Rows, oneRep.OK, oneRep.Failed)
	}

	teach := tinyConfig(t, frames.Output, "", filepath.Join(tmp, "teacher"))
	teach.Phase = PhaseTeacher
	teach.Frames, teach.Size, teach.Seed = 0, 0, 0 // the teacher phase takes them from the frames dataset
	teachRep := mustRun(t, teach)
	if teachRep.Rows != oneRep.Rows || teachRep.OK != oneRep.OK || teachRep.Failed != oneRep.Failed || !teachRep.Accounted || teachRep.Computed != oneRep.OK {
		t.Fatalf("teacher phase report: rows %d ok %d failed %d computed %d; one pass rows %d ok %d failed %d",
			teachRep.Rows, teachRep.OK, teachRep.Failed, teachRep.Computed, oneRep.Rows, oneRep.OK, oneRep.Failed)
	}

	p1, rows1, fails1 := datasetContents(t, one.Output)
	pf, rowsF, failsF := datasetContents(t, frames.Output)
	p2, rows2, fails2 := datasetContents(t, teach.Output)

	if pf.Layout != schemas.LayoutFrames || pf.HasTeacher() || pf.Sampler != p1.Sampler || pf.Frames != p1.Frames || pf.Size != p1.Size || pf.Seed != p1.Seed {
		t.Errorf("frames provenance %+v does not match the one-pass sampling %+v", pf, p1)
	}
	if got := p2.Extra["frames_dataset"]; got != frames.Output {
		t.Errorf("teacher phase provenance records frames_dataset %q, want %q", got, frames.Output)
	}
	p2.Extra = nil
	if !reflect.DeepEqual(p1, p2) {
		t.Errorf("provenance differs:\none pass %+v\ntwo phase %+v", p1, p2)
	}
	if !reflect.DeepEqual(fails1, fails2) || !reflect.DeepEqual(fails1, failsF) {
		t.Errorf("failures differ:\none pass %+v\nframes %+v\nteacher %+v", fails1, failsF, fails2)
	}
	if len(rows1) == 0 || len(rows1) != len(rows2) || len(rows1) != len(rowsF) {
		t.Fatalf("rows: one pass %d, frames %d, teacher %d", len(rows1), len(rowsF), len(rows2))
	}
	for id, want := range rows1 {
		if got, ok := rows2[id]; !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("clip %s (%s): the two-phase row differs from the one-pass row", id, want.SourceURI)
		}
		base := want
		base.TeacherLayers, base.TeacherTokens, base.TeacherFeatures, base.TeacherCLSAttn, base.Masks = nil, nil, nil, nil, nil
		if got := rowsF[id]; !reflect.DeepEqual(got, base) {
			t.Errorf("clip %s: the frames row differs from the one-pass row's frames", id)
		}
		if want.Caption == "" || len(want.CaptionIDs) != p1.Text.MaxLen {
			t.Errorf("clip %s: caption %q with %d token ids, want one caption of %d", id, want.Caption, len(want.CaptionIDs), p1.Text.MaxLen)
		}
	}

	retok := teach
	retok.Tokenizer = vocab
	if _, err := Prepare(context.Background(), retok); err == nil || !strings.Contains(err.Error(), "--tokenizer") {
		t.Errorf("the teacher phase took a --tokenizer: %v", err)
	}

	want := indexOf(t, teach.Output)
	again := mustRun(t, teach)
	if got := indexOf(t, teach.Output); got != want || again.Computed != 0 || again.Committed != oneRep.OK {
		t.Errorf("teacher phase rerun: computed %d, committed %d (want 0, %d); index changed: %v", again.Computed, again.Committed, oneRep.OK, got != want)
	}
}

// TestPhaseErrors: each phase refuses inputs it cannot use, with a message saying what to do.
func TestPhaseErrors(t *testing.T) {
	m, root := smallSet(t, 1)
	tmp := t.TempDir()
	one := tinyConfig(t, m, root, filepath.Join(tmp, "one"))
	mustRun(t, one)
	ctx := context.Background()
	cases := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"teacher phase on a dataset with a teacher", func(c *Config) { c.Phase, c.Manifest = PhaseTeacher, one.Output }, "already has teacher features"},
		{"teacher phase on a manifest", func(c *Config) { c.Phase = PhaseTeacher }, "run --phase=frames first"},
		{"teacher phase writing over its input", func(c *Config) { c.Phase, c.Manifest, c.Output = PhaseTeacher, one.Output, one.Output }, "--output must differ"},
		{"unknown phase", func(c *Config) { c.Phase = "decode" }, "--phase"},
		{"teacher phase without a teacher", func(c *Config) { c.Phase, c.Teacher = PhaseTeacher, "" }, "--teacher"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(t, m, root, filepath.Join(t.TempDir(), "out"))
			c.mod(&cfg)
			_, err := Prepare(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Prepare = %v, want an error mentioning %q", err, c.want)
			}
		})
	}
	// The frames phase needs no teacher at all.
	cfg := tinyConfig(t, m, root, filepath.Join(tmp, "f"))
	cfg.Phase, cfg.Teacher = PhaseFrames, ""
	if _, err := Prepare(ctx, cfg); err != nil {
		t.Fatalf("frames phase without a teacher: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "f")); err == nil {
		t.Error("Prepare created the output")
	}
}

// TestTeacherPhaseKillAndResume: SIGKILL the teacher phase mid-run, rerun it, and the dataset
// equals an uninterrupted teacher phase over the same frames dataset.
func TestTeacherPhaseKillAndResume(t *testing.T) {
	m, root := smallSet(t, 6)
	tmp := t.TempDir()
	frames := tinyConfig(t, m, root, filepath.Join(tmp, "frames"))
	frames.Phase, frames.Teacher = PhaseFrames, ""
	mustRun(t, frames)

	cfg := tinyConfig(t, frames.Output, "", filepath.Join(tmp, "clean"))
	cfg.Phase, cfg.GroupClips, cfg.BatchClips = PhaseTeacher, 2, 1
	mustRun(t, cfg)
	want := indexOf(t, cfg.Output)

	killed := filepath.Join(tmp, "killed")
	cfg.Output = killed
	killMidRun(t, cfg, func() int { return stagedFiles(killed) })
	rep := mustRun(t, cfg)
	if got := indexOf(t, killed); got != want {
		t.Errorf("resumed teacher phase differs from the clean one:\n%s\nvs\n%s", got, want)
	}
	t.Logf("resume: computed %d, reused %d staged, %d committed", rep.Computed, rep.Restaged, rep.Committed)
}

// TestTeacherPhaseDamagedFrames: a damaged shard of the frames dataset costs only its clips.
// They become failures of class corrupt at stage read_frames, the other clips are kept, and
// ok + failed still equals the manifest's rows.
func TestTeacherPhaseDamagedFrames(t *testing.T) {
	m, root := smallSet(t, 4)
	tmp := t.TempDir()
	frames := tinyConfig(t, m, root, filepath.Join(tmp, "frames"))
	frames.Phase, frames.Teacher, frames.GroupClips = PhaseFrames, "", 2
	fr := mustRun(t, frames)
	shards, _ := filepath.Glob(filepath.Join(frames.Output, "shard-*.arrow"))
	if len(shards) < 2 {
		t.Fatalf("%d frames shards, want several", len(shards))
	}
	ds, err := shard.Open(context.Background(), frames.Output)
	if err != nil {
		t.Fatal(err)
	}
	var inDamaged int64
	for _, e := range ds.Index().Shards {
		if filepath.Join(frames.Output, e.Name) == shards[0] {
			inDamaged = int64(e.Rows)
		}
	}
	ds.Close()
	b, err := os.ReadFile(shards[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+2000 && i < len(b); i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(shards[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	teach := tinyConfig(t, frames.Output, "", filepath.Join(tmp, "teacher"))
	teach.Phase = PhaseTeacher
	rep := mustRun(t, teach)
	if inDamaged == 0 || rep.FailedByClass["corrupt"] != inDamaged || rep.OK != fr.OK-inDamaged || rep.Failed != fr.Failed+inDamaged || !rep.Accounted {
		t.Fatalf("damaged shard of %d clips: ok %d failed %v (frames phase ok %d failed %d)", inDamaged, rep.OK, rep.FailedByClass, fr.OK, fr.Failed)
	}
	_, _, fails := datasetContents(t, teach.Output)
	for _, f := range fails {
		if f.ErrorClass == "corrupt" && (f.Stage != schemas.StageReadFrames || !strings.Contains(f.Message, "--phase=frames")) {
			t.Errorf("corrupt frames failure %+v: want stage %s and a message saying to rerun the frames phase", f, schemas.StageReadFrames)
		}
	}
}
