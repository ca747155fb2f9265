package export

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
)

// embedder turns a clip row into its export row: the row's identity columns and the model's
// embedding columns. One per worker goroutine (models are not safe for concurrent use);
// borrowed from a per-process pool across bundles.
type embedder interface {
	Embed(row schemas.ClipRow) (schemas.EmbeddingRow, error)
	Close() error
}

// teacherEmbedder is the CLIP teacher: each frame's pooled, projected, L2-normalised image
// embedding (frame_embeddings), averaged over the clip's frames and L2-normalised again.
type teacherEmbedder struct {
	t      *clip.Teacher
	dev    *kernels.Device
	frames int
	size   int
	dim    int
}

func newTeacherEmbedder(ctx context.Context, p Plan) (*teacherEmbedder, error) {
	dev, err := kernels.Open(p.Device, kernels.Options{Threads: p.Threads})
	if err != nil {
		return nil, fmt.Errorf("--device=%s: %w", p.Device, err)
	}
	w, cfg, err := clip.Load(ctx, p.Teacher, clip.LoadOptions{Config: p.TeacherConfig, ConfigFile: p.TeacherConfigFile})
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("loading the teacher %s: %w", p.Teacher, err)
	}
	t, err := clip.New(dev.Backend, cfg, w, clip.Options{MaxFrames: p.Frames})
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("building the teacher: %w", err)
	}
	return &teacherEmbedder{t: t, dev: dev, frames: p.Frames, size: p.Size, dim: cfg.OutputDim}, nil
}

// Embed runs one clip per call, so a clip's bits never depend on which clips share a call.
func (e *teacherEmbedder) Embed(row schemas.ClipRow) (schemas.EmbeddingRow, error) {
	per, err := e.t.EncodePooled(row.Frames, 1, e.frames, e.size, e.size)
	if err != nil {
		return schemas.EmbeddingRow{}, fmt.Errorf("clip %s: %w", row.ClipID, err)
	}
	out := identity(row)
	out.Embedding = MeanL2(per, e.frames, e.dim)
	out.FrameEmbeddings = per
	return out, nil
}

// identity is the export row's columns that come from the input row, not the model.
func identity(r schemas.ClipRow) schemas.EmbeddingRow {
	return schemas.EmbeddingRow{ClipID: r.ClipID, SourceURI: r.SourceURI,
		SpanStartS: r.SpanStartS, SpanEndS: r.SpanEndS, Caption: r.Caption}
}

func (e *teacherEmbedder) Close() error {
	err := e.t.Close()
	if cerr := e.dev.Close(); err == nil {
		err = cerr
	}
	return err
}

// trainerDevice opens p's device with the training kernels the student models run on.
func trainerDevice(p Plan) (*kernels.Device, kernels.Trainer, error) {
	dev, err := kernels.Open(p.Device, kernels.Options{Threads: p.Threads})
	if err != nil {
		return nil, nil, fmt.Errorf("--device=%s: %w", p.Device, err)
	}
	be, err := dev.Trainer()
	if err != nil {
		dev.Close()
		return nil, nil, fmt.Errorf("--device=%s: %w", p.Device, err)
	}
	return dev, be, nil
}

// studentEmbedder is a stage-1 student: its own forward on every token of the clip (no mask,
// no drop path), then the L2-normalised mean of the final-norm tokens over each time slice
// (frame_embeddings) and over the clip (embedding).
type studentEmbedder struct {
	m   *vit.Model
	dev *kernels.Device
}

func newStudentEmbedder(p Plan) (*studentEmbedder, error) {
	ck, err := vit.LoadCheckpoint(p.Weights)
	if err != nil {
		return nil, fmt.Errorf("--weights=%s: %w", p.Weights, err)
	}
	dev, be, err := trainerDevice(p)
	if err != nil {
		return nil, err
	}
	m, err := vit.New(be, ck.Cfg, ck.Params)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return &studentEmbedder{m: m, dev: dev}, nil
}

func (e *studentEmbedder) Embed(row schemas.ClipRow) (schemas.EmbeddingRow, error) {
	c := e.m.Cfg
	var b vit.Batch
	b.AppendUnmasked(c, row.Frames)
	if err := e.m.Forward(b, false, 0); err != nil {
		return schemas.EmbeddingRow{}, fmt.Errorf("clip %s: %w", row.ClipID, err)
	}
	tok, err := e.m.FinalTokens()
	if err != nil {
		return schemas.EmbeddingRow{}, fmt.Errorf("clip %s: %w", row.ClipID, err)
	}
	out := identity(row)
	n := c.HW() * c.Dim
	for s := 0; s < c.Slices(); s++ {
		out.FrameEmbeddings = append(out.FrameEmbeddings, MeanL2(tok[s*n:(s+1)*n], c.HW(), c.Dim)...)
	}
	out.Embedding = MeanL2(tok, c.Slices()*c.HW(), c.Dim)
	return out, nil
}

func (e *studentEmbedder) Close() error {
	e.m.Close()
	return e.dev.Close()
}

// stage2Embedder is a stage-2 checkpoint on the retrieval evaluation's path: the clip unmasked
// with keep_temporal, each frame's vision_proj (multimodal.EmbedVision), and each caption's
// text_proj (EmbedText), normalised as get_sim does (multimodal.VideoEmbedding, UnitRows).
type stage2Embedder struct {
	m    *multimodal.Model
	dev  *kernels.Device
	T, L int  // the input's frames per clip and caption length
	text bool // the export has a text_embedding column
}

func newStage2Embedder(p Plan) (*stage2Embedder, error) {
	ck, err := multimodal.LoadCheckpoint(p.Weights)
	if err != nil {
		return nil, fmt.Errorf("--weights=%s: %w", p.Weights, err)
	}
	dev, be, err := trainerDevice(p)
	if err != nil {
		return nil, err
	}
	m, err := multimodal.New(be, ck.Cfg, ck.Flat)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return &stage2Embedder{m: m, dev: dev, T: p.Frames, L: p.CaptionLen, text: p.Info.Text}, nil
}

func (e *stage2Embedder) Embed(row schemas.ClipRow) (schemas.EmbeddingRow, error) {
	E := e.m.Cfg.EmbedDim
	b := vit.Batch{Frames: e.T, KeepTemporal: true}
	b.AppendUnmasked(e.m.Cfg.Vision, row.Frames)
	v, err := e.m.EmbedVision(b)
	if err != nil {
		return schemas.EmbeddingRow{}, fmt.Errorf("clip %s: %w", row.ClipID, err)
	}
	out := identity(row)
	out.FrameEmbeddings, out.Embedding = multimodal.VideoEmbedding(v.Proj, len(v.Proj)/E, E)
	if C := len(row.CaptionIDs) / max(e.L, 1); e.text && C > 0 {
		mask := make([]int32, len(row.CaptionMask))
		for i, m := range row.CaptionMask {
			mask[i] = int32(m)
		}
		t, err := e.m.EmbedText(row.CaptionIDs, mask, C, e.L)
		if err != nil {
			return schemas.EmbeddingRow{}, fmt.Errorf("clip %s captions: %w", row.ClipID, err)
		}
		out.TextEmbedding = multimodal.UnitRows(t.Proj, E)
	}
	return out, nil
}

func (e *stage2Embedder) Close() error {
	e.m.Close()
	return e.dev.Close()
}

// MeanL2 returns the L2-normalised mean of n rows of dim values (accumulated in float64).
func MeanL2(rows []float32, n, dim int) []float32 {
	acc := make([]float64, dim)
	for i := 0; i < n; i++ {
		for j, v := range rows[i*dim : (i+1)*dim] {
			acc[j] += float64(v)
		}
	}
	var ss float64
	for j := range acc {
		acc[j] /= float64(n)
		ss += acc[j] * acc[j]
	}
	norm := math.Max(math.Sqrt(ss), 1e-12)
	out := make([]float32, dim)
	for j, v := range acc {
		out[j] = float32(v / norm)
	}
	return out
}

// pool keeps built embedders between bundles of one process, keyed by the plan.
var pool struct {
	mu   sync.Mutex
	free map[string][]embedder
}

func getEmbedder(ctx context.Context, p Plan) (embedder, error) {
	pool.mu.Lock()
	if n := len(pool.free[p.Key]); n > 0 {
		e := pool.free[p.Key][n-1]
		pool.free[p.Key] = pool.free[p.Key][:n-1]
		pool.mu.Unlock()
		return e, nil
	}
	pool.mu.Unlock()
	switch p.Model {
	case ModelStudent:
		return newStudentEmbedder(p)
	case ModelStage2:
		return newStage2Embedder(p)
	}
	return newTeacherEmbedder(ctx, p)
}

func putEmbedder(p Plan, e embedder) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.free == nil {
		pool.free = map[string][]embedder{}
	}
	pool.free[p.Key] = append(pool.free[p.Key], e)
}
