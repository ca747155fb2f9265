package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/schemas/schematest"
	"github.com/umt-dev/umt/transforms/storage"
)

// Tiny models on the test datasets' clips: 2 frames of 32 px in 16-px patches.
var (
	tinyStudent = vit.Config{ImgSize: 32, Patch: 16, Frames: 2, Tubelet: 1, Dim: 16, Depth: 2, Heads: 2, MLPRatio: 2, ClipDim: 8, ReturnLayers: 2}
	tinyStage2  = func() multimodal.Config {
		v := tinyStudent
		v.Stage2 = true
		t := bert.Tiny
		t.Vocab, t.EncoderWidth, t.MaxPosition = 1000, v.Dim, 16
		return multimodal.Config{Vision: v, Text: t, EmbedDim: 8, TempInit: 0.07, MLMProb: 0.5}
	}()
)

// writeCheckpoint writes a checkpoint root in the layout umt train writes (step directory with
// model.safetensors and state.json listing its sha256, and latest) with the given model config.
func writeCheckpoint(t testing.TB, model []byte, cfg any) string {
	t.Helper()
	root := t.TempDir()
	step := filepath.Join(root, "step-00000007")
	if err := os.MkdirAll(step, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(model)
	st, _ := json.Marshal(map[string]any{"version": 1, "step": 7, "model": cfg, "files": map[string]string{"model.safetensors": hex.EncodeToString(sum[:])}})
	for name, b := range map[string][]byte{filepath.Join(step, "model.safetensors"): model, filepath.Join(step, "state.json"): st, filepath.Join(root, "latest"): []byte("step-00000007\n")} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func studentCheckpoint(t testing.TB) (string, []float32) {
	params := vit.InitParams(tinyStudent, 3)
	b, err := vit.EncodeState(tinyStudent, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	return writeCheckpoint(t, b, tinyStudent), params
}

func stage2Checkpoint(t testing.TB) (string, multimodal.Flat) {
	c := tinyStage2
	f := multimodal.Flat{Vision: vit.InitParams(c.Vision, 4), Text: bert.InitParams(c.Text, 5), Heads: multimodal.InitHeads(c, 6)}
	b, err := multimodal.EncodeState(c, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return writeCheckpoint(t, b, c), f
}

// captionedDataset commits a frames dataset of n clips with caption tokens of L ids (some
// clips have no caption, some several).
func captionedDataset(t testing.TB, n, T, S, L int) (string, []schemas.ClipRow) {
	return commitDataset(t, schematest.WithText(schematest.Provenance(schemas.LayoutFrames, T, S, 0, 0, 0), L), n)
}

func modelConfig(in, out, model, weights string) Config {
	cfg := Defaults()
	cfg.Input, cfg.Output, cfg.Model, cfg.Weights, cfg.GroupClips, cfg.Threads = in, out, model, weights, 2, 1
	return cfg
}

func trainerBackend(t testing.TB) kernels.Trainer {
	dev, err := kernels.Open("cpu", kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	be, err := dev.Trainer()
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// meanUnit is the L2-normalised float64 mean of n rows of d values (an independent pooling).
func meanUnit(x []float32, n, d int) []float64 {
	m := make([]float64, d)
	for i := 0; i < n*d; i++ {
		m[i%d] += float64(x[i]) / float64(n)
	}
	var ss float64
	for _, v := range m {
		ss += v * v
	}
	for i := range m {
		m[i] /= math.Sqrt(ss)
	}
	return m
}

func near(a []float32, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i])-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestStudentExportEqualsStudentForward: a stage-1 student's export is its own forward on every
// token of the clip's frames (patches by vit.Patchify from float pixels, independently of the
// export's path): the final-norm tokens averaged over each frame and over the clip, unit
// length; the metadata names the checkpoint and its weights' sha256.
func TestStudentExportEqualsStudentForward(t *testing.T) {
	const n, T, S = 3, 2, 32
	in, rows := framesDataset(t, n, T, S)
	ckpt, params := studentCheckpoint(t)
	out := t.TempDir()
	runConfig(t, modelConfig(in, out, ModelStudent, ckpt))
	idx, got, meta := readExport(t, out)
	if len(got) != n || idx.Info.Frames != T || idx.Info.Dim != tinyStudent.Dim || meta[schemas.MetaModel] != "umt-stage1:step-00000007" {
		t.Fatalf("%d rows, info %+v, metadata %v", len(got), idx.Info, meta)
	}
	m, err := vit.New(trainerBackend(t), tinyStudent, params)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := tinyStudent
	all := make([]int32, T*c.HW())
	for i := range all {
		all[i] = int32(i)
	}
	for i, r := range rows {
		px := make([]float32, len(r.Frames)) // [T, S, S, 3] → [3, T, S, S], normalised
		for j, u := range r.Frames {
			ch, pix := j%3, j/3
			px[ch*T*S*S+pix] = (float32(u)/255 - vit.ImageNetMean[ch]) / vit.ImageNetStd[ch]
		}
		patches, err := vit.Patchify(c, px, all)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Forward(vit.Batch{B: 1, Patches: patches, Tokens: all}, false, 0); err != nil {
			t.Fatal(err)
		}
		tok, err := m.FinalTokens()
		if err != nil {
			t.Fatal(err)
		}
		if !near(got[i].Embedding, meanUnit(tok, T*c.HW(), c.Dim), 1e-6) {
			t.Errorf("row %d: embedding %v is not the mean of the student's final-norm tokens", i, got[i].Embedding)
		}
		for f := 0; f < T; f++ {
			w := c.HW() * c.Dim
			if !near(got[i].FrameEmbeddings[f*c.Dim:(f+1)*c.Dim], meanUnit(tok[f*w:(f+1)*w], c.HW(), c.Dim), 1e-6) {
				t.Errorf("row %d frame %d: frame embedding is not the mean of the frame's final-norm tokens", i, f)
			}
		}
	}
	if sum := mustSHA(t, filepath.Join(ckpt, "step-00000007", "model.safetensors")); meta[schemas.MetaModelSHA256] != sum {
		t.Errorf("model sha256 %q, want %q", meta[schemas.MetaModelSHA256], sum)
	}
}

func mustSHA(t testing.TB, path string) string {
	s, err := storage.FileSHA256(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStage2ExportEqualsRetrievalPath: a stage-2 export's frame embeddings are the retrieval
// evaluation's normalised per-frame vision_proj (every clip encoded in one batch, as umt eval
// retrieval does), its text embeddings each caption's normalised text_proj (null without
// captions), and embedding · text_embedding reproduces multimodal.ITCScores for every
// (clip, caption) pair; for videos of the encoder's frames and for images (T = 1).
func TestStage2ExportEqualsRetrievalPath(t *testing.T) {
	for _, T := range []int{2, 1} {
		t.Run(fmt.Sprintf("T=%d", T), func(t *testing.T) { checkStage2Export(t, T) })
	}
}

func checkStage2Export(t *testing.T, T int) {
	const n, S, L = 5, 32, 6
	in, rows := captionedDataset(t, n, T, S, L)
	ckpt, flat := stage2Checkpoint(t)
	out := t.TempDir()
	runConfig(t, modelConfig(in, out, ModelStage2, ckpt))
	idx, got, _ := readExport(t, out)
	c := tinyStage2
	E := c.EmbedDim
	if len(got) != n || !idx.Info.Text || idx.Info.Frames != T || idx.Info.Dim != E {
		t.Fatalf("%d rows, info %+v", len(got), idx.Info)
	}
	m, err := multimodal.New(trainerBackend(t), c, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := vit.Batch{Frames: T, KeepTemporal: true}
	var ids, mask []int32
	type pair struct{ v, t, c int } // clip, caption overall, caption of the clip
	var pairs []pair
	for i, r := range rows {
		b.AppendUnmasked(c.Vision, r.Frames)
		ids = append(ids, r.CaptionIDs...)
		for _, x := range r.CaptionMask {
			mask = append(mask, int32(x))
		}
		for k := range len(r.CaptionIDs) / L {
			pairs = append(pairs, pair{i, len(ids)/L - len(r.CaptionIDs)/L + k, k})
		}
		if nc := len(r.Captions()); (got[i].TextEmbedding == nil) != (nc == 0) || len(got[i].TextEmbedding) != nc*E {
			t.Errorf("row %d: %d text-embedding values for %d captions", i, len(got[i].TextEmbedding), nc)
		}
	}
	ve, err := m.EmbedVision(b)
	if err != nil {
		t.Fatal(err)
	}
	Nt := len(ids) / L
	te, err := m.EmbedText(ids, mask, Nt, L)
	if err != nil {
		t.Fatal(err)
	}
	i2t, err := multimodal.ITCScores(ve.Proj, n, T, te.Proj, Nt, E)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		for f := 0; f < T; f++ {
			row := (i*T + f) * E
			if !near(got[i].FrameEmbeddings[f*E:(f+1)*E], meanUnit(ve.Proj[row:row+E], 1, E), 1e-5) {
				t.Errorf("clip %d frame %d: frame embedding differs from the batch's normalised vision_proj", i, f)
			}
		}
	}
	if len(pairs) == 0 {
		t.Fatal("the test dataset has no captions")
	}
	for _, p := range pairs {
		txt := got[p.v].TextEmbedding[p.c*E : (p.c+1)*E]
		if !near(txt, meanUnit(te.Proj[p.t*E:(p.t+1)*E], 1, E), 1e-5) {
			t.Errorf("clip %d caption %d: text embedding differs from the normalised text_proj", p.v, p.c)
		}
		// Every clip against this caption: the exported vectors' dot product is the ITC score.
		for v := range rows {
			var dot float64
			for e := 0; e < E; e++ {
				dot += float64(got[v].Embedding[e]) * float64(txt[e])
			}
			if math.Abs(dot-i2t[v*Nt+p.t]) > 1e-5 {
				t.Errorf("clip %d · caption %d: %v, ITCScores %v", v, p.t, dot, i2t[v*Nt+p.t])
			}
		}
	}
	if !slices.ContainsFunc(got, func(r schemas.EmbeddingRow) bool { return r.TextEmbedding == nil }) {
		t.Log("no clip without captions in the test dataset")
	}
}

// TestModelMismatchNamesTheFix: a dataset whose clips the checkpoint cannot take is refused
// before anything runs, with the prep setting that fixes it; --weights is required.
func TestModelMismatchNamesTheFix(t *testing.T) {
	in, _ := framesDataset(t, 1, 2, 16)
	student, _ := studentCheckpoint(t)
	s2, _ := stage2Checkpoint(t)
	for _, c := range []struct {
		model, weights, want string
	}{
		{ModelStudent, student, "umt prep --frames 2 --size 32"},
		{ModelStage2, s2, "umt prep --size 32"},
		{ModelStage2, "", "--model=stage2 needs --weights"},
		{ModelStudent, s2, "stage-1 (umt train stage1) checkpoint"},
	} {
		_, err := Prepare(context.Background(), modelConfig(in, t.TempDir(), c.model, c.weights))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--model=%s --weights=%s: %v, want an error saying %q", c.model, c.weights, err, c.want)
		}
	}
}
