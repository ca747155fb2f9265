package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/pipelines/export"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// evalChunk is how many videos or captions go through the encoders at once.
const evalChunk = 16

func init() {
	var (
		data, weightsPath, out, device string
		embeddings                     string
		kTest, threads                 int
		asJSON                         bool
	)
	register(&Command{
		Path:  "eval retrieval",
		Short: "zero-shot text-video retrieval of a stage-2 checkpoint on a captioned dataset",
		Long: `Runs the official zero-shot retrieval evaluation of a stage-2 checkpoint on a dataset written
by 'umt prep --tokenizer': each row is one video with all its captions (txt2img/img2txt as
the official protocol). Videos are encoded unmasked with per-frame projections, the ITC
score is the mean cosine over frames; each query's --k-test best candidates are re-ranked by
the ITM head. Reports txt_r1/5/10, img_r1/5/10 and their means for the re-ranked scores and
for the ITC scores alone (suffix _emb), as itm_eval rounds them.

--embeddings instead reads an export of the dataset ('umt export --model stage2', which holds
each clip's normalised per-frame vision_proj and each caption's text_proj) and reports the
ITC-only metrics (_emb) from it, without the model: the same ITC scores, no re-ranking.

Examples:
  umt eval retrieval --data out/msrvtt-1k --weights out/s2/checkpoints
  umt eval retrieval --embeddings out/msrvtt-emb --json
  umt eval retrieval --data gs://b/didemo --weights /ckpt/s2/checkpoints/step-00010000 --k-test 128 --json --output eval.json --device cuda`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&data, "data", "", "dataset written by 'umt prep --tokenizer': a local directory or gs:// prefix (required)")
			fs.StringVar(&weightsPath, "weights", "", "stage-2 checkpoint: a 'umt train stage2' checkpoints/ directory (follows 'latest') or one step-N/ directory (required)")
			fs.IntVar(&kTest, "k-test", 128, "candidates per query re-ranked by the ITM head (capped at the gallery size)")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON instead of a table")
			fs.StringVar(&out, "output", "", "also write the result as JSON to this file or URI")
			fs.StringVar(&embeddings, "embeddings", "", "instead of --data and --weights: an export by 'umt export --model stage2' of a captioned dataset (ITC-only metrics)")
			fs.StringVar(&device, "device", "auto", "compute backend: auto (the GPU when one works, else the CPU), cpu, cuda or cuda:N")
			fs.IntVar(&threads, "threads", 0, "CPU threads (0 = all)")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments %q", args)
			}
			if embeddings != "" && (data != "" || weightsPath != "") {
				return usagef("--embeddings replaces --data and --weights; give one or the other")
			}
			if embeddings == "" && (data == "" || weightsPath == "") {
				return usagef("--data and --weights are required (a captioned dataset and a stage-2 checkpoint), or --embeddings (a stage-2 export)")
			}
			if kTest < 1 {
				return usagef("--k-test must be at least 1, got %d", kTest)
			}
			ctx := context.Background()
			if embeddings != "" {
				res, err := evalExport(ctx, embeddings)
				if err != nil {
					return err
				}
				return res.write(ctx, out, asJSON)
			}
			d, err := shard.Open(ctx, data)
			if err != nil {
				return fmt.Errorf("opening %s: %w", data, err)
			}
			defer d.Close()
			ck, err := multimodal.LoadCheckpoint(weightsPath)
			if err != nil && ck.Cfg.Validate() != nil {
				return fmt.Errorf("--weights: %w", err)
			}
			// A checkpoint whose config the data does not fit is explained by the fix, even
			// when its tensors do not load either.
			if cerr := checkRetrievalData(ck.Cfg, d.Provenance(), data); cerr != nil {
				return cerr
			}
			if err != nil {
				return fmt.Errorf("--weights: %w", err)
			}
			dev, err := kernels.Open(device, kernels.Options{Threads: threads})
			if err != nil {
				return err
			}
			defer dev.Close()
			fmt.Fprintf(os.Stderr, "device: %s\n", dev.Reason)
			be, err := dev.Trainer()
			if err != nil {
				return err
			}
			m, err := multimodal.New(be, ck.Cfg, ck.Flat)
			if err != nil {
				return err
			}
			defer m.Close()
			res, err := evalRetrieval(ctx, m, d, kTest)
			if err != nil {
				return err
			}
			res.Dataset, res.Weights, res.Step = data, ck.Dir, ck.Step
			return res.write(ctx, out, asJSON)
		},
	})
}

// retrievalResult is what 'umt eval retrieval' reports.
type retrievalResult struct {
	Dataset    string             `json:"dataset,omitempty"`
	Embeddings string             `json:"embeddings,omitempty"` // the export read by --embeddings
	Weights    string             `json:"weights"`              // the checkpoint, or the export's umt.model
	Step       int                `json:"step"`
	Videos     int                `json:"videos"`
	Texts      int                `json:"texts"`
	KTest      int                `json:"k_test"`
	Metrics    map[string]float64 `json:"metrics"` // itm_eval's keys; _emb for the ITC-only scores
}

// write prints r as JSON or a table and, with out set, also writes the JSON there.
func (r retrievalResult) write(ctx context.Context, out string, asJSON bool) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if out != "" {
		if err := storage.WriteFile(ctx, out, append(js, '\n')); err != nil {
			return err
		}
	}
	if asJSON {
		_, err = fmt.Fprintf(stdout, "%s\n", js)
		return err
	}
	r.table(stdout)
	return nil
}

func (r retrievalResult) table(w io.Writer) {
	fmt.Fprintf(w, "%s%s: %d videos, %d captions, k_test %d, step %d\n", r.Dataset, r.Embeddings, r.Videos, r.Texts, r.KTest, r.Step)
	fmt.Fprintf(w, "%-12s %8s %8s\n", "metric", "itm", "itc(emb)")
	for _, k := range multimodal.MetricNames {
		itm := "     n/a" // an export has the ITC vectors only
		if v, ok := r.Metrics[k]; ok {
			itm = fmt.Sprintf("%8.2f", v)
		}
		fmt.Fprintf(w, "%-12s %s %8.2f\n", k, itm, r.Metrics[k+"_emb"])
	}
}

// checkRetrievalData refuses a dataset the checkpoint cannot read, naming the fix.
func checkRetrievalData(m multimodal.Config, p schemas.Provenance, name string) error {
	if p.Text == nil {
		return fmt.Errorf("%s stores no caption tokens; prepare it with the text encoder's vocabulary: umt prep --tokenizer hf:bert-base-uncased", name)
	}
	return m.CheckData(multimodal.DataShape{Frames: p.Frames, Size: p.Size, Tokenizer: p.Text.Tokenizer, Vocab: p.Text.VocabSize, MaxLen: p.Text.MaxLen}, name)
}

// retrievalInputs are the encoded gallery and queries with the ground truth.
type retrievalInputs struct {
	vTokens, vProj []float32 // [Nv·N, D], [Nv·P, E]
	tTokens, tProj []float32 // [Nt·L, H], [Nt, E]
	mask           []int32   // [Nt·L]
	Nv, P, Nt, L   int
	img2txt        [][]int // per video its captions
	txt2img        [][]int // per caption its video
}

// encodeRetrieval encodes every row's frames (all tokens) and every caption, evalChunk at a time.
func encodeRetrieval(ctx context.Context, m *multimodal.Model, d *shard.Dataset) (retrievalInputs, error) {
	p := d.Provenance()
	T, L := p.Frames, p.Text.MaxLen
	in := retrievalInputs{L: L}
	b := vit.Batch{Frames: T, KeepTemporal: true}
	var ids, mask []int32
	flushV := func() error {
		if b.B == 0 {
			return nil
		}
		e, err := m.EmbedVision(b)
		in.P = len(e.Proj) / (b.B * m.Cfg.EmbedDim) // frames / tubelet
		in.vTokens, in.vProj = append(in.vTokens, e.Tokens...), append(in.vProj, e.Proj...)
		b.B, b.Patches, b.Tokens = 0, b.Patches[:0], b.Tokens[:0]
		return err
	}
	flushT := func() error {
		n := len(ids) / L
		if n == 0 {
			return nil
		}
		e, err := m.EmbedText(ids, mask, n, L)
		in.tTokens, in.tProj = append(in.tTokens, e.Tokens...), append(in.tProj, e.Proj...)
		in.mask = append(in.mask, mask...)
		ids, mask = ids[:0], mask[:0]
		return err
	}
	err := d.Scan(ctx, func(i int, r schemas.ClipRow) error {
		C := len(r.CaptionIDs) / L
		if C == 0 || len(r.CaptionIDs) != C*L || len(r.CaptionMask) != C*L {
			return fmt.Errorf("clip %s has %d caption ids and %d mask values, not C×%d with C ≥ 1", r.ClipID, len(r.CaptionIDs), len(r.CaptionMask), L)
		}
		b.AppendUnmasked(m.Cfg.Vision, r.Frames)
		var caps []int
		for c := 0; c < C; c++ {
			caps = append(caps, in.Nt)
			in.txt2img = append(in.txt2img, []int{in.Nv})
			in.Nt++
			ids = append(ids, r.CaptionIDs[c*L:(c+1)*L]...)
			for _, v := range r.CaptionMask[c*L : (c+1)*L] {
				mask = append(mask, int32(v))
			}
			if len(ids) >= evalChunk*L {
				if err := flushT(); err != nil {
					return err
				}
			}
		}
		in.img2txt = append(in.img2txt, caps)
		in.Nv++
		if b.B == evalChunk {
			return flushV()
		}
		return nil
	})
	if err == nil {
		err = flushV()
	}
	if err == nil {
		err = flushT()
	}
	if err == nil && in.Nv == 0 {
		err = fmt.Errorf("the dataset has no rows")
	}
	return in, err
}

// evalRetrieval is the zero-shot protocol: ITC scores, ITM re-ranking of each query's top k,
// ranks against the ground truth and itm_eval's metrics of both score kinds.
func evalRetrieval(ctx context.Context, m *multimodal.Model, d *shard.Dataset, k int) (retrievalResult, error) {
	in, err := encodeRetrieval(ctx, m, d)
	if err != nil {
		return retrievalResult{}, err
	}
	E := m.Cfg.EmbedDim
	i2t, err := multimodal.ITCScores(in.vProj, in.Nv, in.P, in.tProj, in.Nt, E)
	if err != nil {
		return retrievalResult{}, err
	}
	t2i := transpose(i2t, in.Nv, in.Nt)
	N := len(in.vTokens) / in.Nv / m.Cfg.Vision.Dim
	k = min(k, in.Nv, in.Nt)
	itmI2T, itmT2I, err := m.ITMScores(in.vTokens, N, in.tTokens, in.mask, in.L, i2t, in.Nv, in.Nt, k)
	if err != nil {
		return retrievalResult{}, err
	}
	res := retrievalResult{Videos: in.Nv, Texts: in.Nt, KTest: k, Metrics: map[string]float64{}}
	for _, kind := range []struct {
		suffix   string
		i2t, t2i []float64
	}{{"", itmI2T, itmT2I}, {"_emb", i2t, t2i}} {
		if err := in.addMetrics(res.Metrics, kind.suffix, kind.i2t, kind.t2i); err != nil {
			return res, err
		}
	}
	return res, nil
}

// addMetrics ranks the ground truth in i2t [Nv, Nt] and t2i [Nt, Nv] and adds itm_eval's
// metrics under their keys plus suffix.
func (in retrievalInputs) addMetrics(into map[string]float64, suffix string, i2t, t2i []float64) error {
	rt, err := multimodal.Ranks(i2t, in.Nv, in.Nt, in.img2txt)
	if err != nil {
		return err
	}
	ri, err := multimodal.Ranks(t2i, in.Nt, in.Nv, in.txt2img)
	if err != nil {
		return err
	}
	for key, v := range multimodal.Metrics(rt, ri) {
		into[key+suffix] = v
	}
	return nil
}

// transpose is t2i [Nt, Nv] of i2t [Nv, Nt].
func transpose(i2t []float64, Nv, Nt int) []float64 {
	t2i := make([]float64, Nt*Nv)
	for v := 0; v < Nv; v++ {
		for t := 0; t < Nt; t++ {
			t2i[t*Nv+v] = i2t[v*Nt+t]
		}
	}
	return t2i
}

// evalExport is the ITC half of the protocol on a stage-2 export: its per-frame video vectors
// and caption vectors (both already normalised as get_sim does) give the same ITC scores.
func evalExport(ctx context.Context, root string) (retrievalResult, error) {
	idx, rows, err := export.ReadEmbeddings(ctx, root)
	if err != nil {
		return retrievalResult{}, err
	}
	inf := idx.Info
	if !inf.Text || inf.Frames == 0 {
		return retrievalResult{}, fmt.Errorf("--embeddings=%s holds no per-frame and caption vectors (model %s); export a captioned dataset with: umt export --model stage2 --weights CHECKPOINT", root, inf.Model)
	}
	in := retrievalInputs{P: inf.Frames}
	for _, r := range rows {
		C := len(r.TextEmbedding) / inf.Dim
		if C == 0 {
			return retrievalResult{}, fmt.Errorf("--embeddings=%s: clip %s has no caption; the protocol needs at least one per video", root, r.ClipID)
		}
		var caps []int
		for range C {
			caps = append(caps, in.Nt)
			in.txt2img = append(in.txt2img, []int{in.Nv})
			in.Nt++
		}
		in.img2txt = append(in.img2txt, caps)
		in.vProj, in.tProj = append(in.vProj, r.FrameEmbeddings...), append(in.tProj, r.TextEmbedding...)
		in.Nv++
	}
	if in.Nv == 0 {
		return retrievalResult{}, fmt.Errorf("--embeddings=%s has no rows", root)
	}
	i2t, err := multimodal.ITCScores(in.vProj, in.Nv, in.P, in.tProj, in.Nt, inf.Dim)
	if err != nil {
		return retrievalResult{}, err
	}
	res := retrievalResult{Embeddings: root, Weights: inf.Model, Videos: in.Nv, Texts: in.Nt, Metrics: map[string]float64{}}
	return res, in.addMetrics(res.Metrics, "_emb", i2t, transpose(i2t, in.Nv, in.Nt))
}
