package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
)

func init() {
	var (
		asJSON    bool
		rows      int
		framesOut string
		verify    bool
		sample    int
	)
	register(&Command{
		Path:  "inspect shards",
		Short: "print a dataset's schema, provenance, counts and bytes",
		Long: `Reads a committed dataset (a local directory or gs://bucket/prefix) through its index and
prints the schema with every column's shape, the provenance (teacher, weights sha256, sampler,
seed, layout), the counts of rows, failures and shards, the bytes on disk, and the decoded bytes
per clip of each column. --json prints the same as one JSON object (rows, failures, shards,
bytes, bytes_per_clip, columns, provenance, failure_classes). --rows N then prints the first N
rows as JSON lines (tensors summarised: shapes, a few values, norms); --frames-out DIR also
writes their frames as PNG files. --verify checks every shard's sha256 and rows against the
index (exit 1 on damage).

Examples:
  umt inspect shards /tmp/ds
  umt inspect shards --json gs://my-bucket/datasets/k710-b16
  umt inspect shards --rows 2 --frames-out /tmp/frames /tmp/ds
  umt inspect shards --verify /tmp/ds`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
			fs.IntVar(&rows, "rows", 0, "also print the first N rows as JSON lines")
			fs.StringVar(&framesOut, "frames-out", "", "with --rows: write each row's frames as PNG files into this directory")
			fs.BoolVar(&verify, "verify", false, "check every shard's checksum, schema and rows against the index")
			fs.IntVar(&sample, "sample-batches", 64, "record batches read to measure bytes per column (0: all)")
		},
		Exec: func(args []string) error {
			if len(args) != 1 {
				return usagef("want exactly one dataset path or gs:// URI, got %d arguments", len(args))
			}
			if rows < 0 {
				return usagef("--rows must be ≥ 0")
			}
			if framesOut != "" && rows == 0 {
				return usagef("--frames-out needs --rows N")
			}
			return inspectShards(context.Background(), args[0], asJSON, rows, framesOut, verify, sample)
		},
	})
}

func inspectShards(ctx context.Context, uri string, asJSON bool, rows int, framesOut string, verify bool, sample int) error {
	ds, err := shard.Open(ctx, uri)
	if err != nil {
		return err
	}
	defer ds.Close()
	sum, err := shard.Describe(ctx, ds, sample)
	if err != nil {
		return err
	}
	if asJSON {
		b, err := json.Marshal(sum)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		printSummary(stdout, sum)
	}
	if framesOut != "" {
		if err := os.MkdirAll(framesOut, 0o755); err != nil {
			return err
		}
	}
	for i := 0; i < rows && i < ds.Len(); i++ {
		row, err := ds.Row(ctx, i)
		if err != nil {
			return err
		}
		b, err := json.Marshal(rowJSON(i, row, ds.Provenance(), framesOut))
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	}
	if verify {
		if err := ds.Verify(ctx); err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintln(stdout, "verify: every shard matches the index")
		}
	}
	return nil
}

func printSummary(w io.Writer, s shard.Summary) {
	fmt.Fprintf(w, "dataset   %s\n", s.URI)
	fmt.Fprintf(w, "rows      %d\nfailures  %d", s.Rows, s.Failures)
	for class, n := range s.FailureClasses {
		fmt.Fprintf(w, " %s=%d", class, n)
	}
	fmt.Fprintf(w, "\nshards    %d\nbytes     %d (%.1f MB; shards %.1f KB per clip on disk)\n", s.Shards, s.Bytes, float64(s.Bytes)/1e6, s.BytesPerClip/1e3)
	if p := s.Provenance; p != nil {
		fmt.Fprintf(w, "\nprovenance (schema version %d)\n", s.SchemaVersion)
		if p.HasTeacher() {
			fmt.Fprintf(w, "  teacher        %s (sha256 %s)\n", p.Teacher, p.TeacherSHA256)
			fmt.Fprintf(w, "  input          %d px, normalisation %s\n", p.Resolution, p.Normalisation)
		} else {
			fmt.Fprintf(w, "  teacher        none: a frames dataset; add the teacher with umt prep --phase=teacher --input %s\n", s.URI)
		}
		fmt.Fprintf(w, "  sampler        %s, seed %d\n", p.Sampler, p.Seed)
		if p.HasTeacher() {
			fmt.Fprintf(w, "  layout         %s, %s, masks %d (ratio %g)\n", p.Layout, p.Precision, p.Masks, p.MaskRatio)
			fmt.Fprintf(w, "  shapes         T=%d S=%d K=%d HW=%d D=%d\n", p.Frames, p.Size, p.K, p.HW, p.D)
		} else {
			fmt.Fprintf(w, "  layout         %s\n", p.Layout)
			fmt.Fprintf(w, "  shapes         T=%d S=%d\n", p.Frames, p.Size)
		}
		if src := p.Extra["frames_dataset"]; src != "" {
			fmt.Fprintf(w, "  frames from    %s (two-phase prep)\n", src)
		}
		fmt.Fprintf(w, "  umt            %s\n", p.UMTVersion)
	}
	if len(s.Columns) > 0 {
		fmt.Fprintf(w, "\ncolumns (decoded bytes per clip, measured on %d rows)\n", s.SampledRows)
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		for _, c := range s.Columns {
			null := ""
			if c.Nullable {
				null = "nullable"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%.0f\n", c.Name, c.Type, c.Shape, c.DType, null, c.BytesPerClip)
		}
		tw.Flush()
	}
}

type tensorJSON struct {
	Shape []int     `json:"shape"`
	First []float64 `json:"first,omitempty"`
	Mean  float64   `json:"mean"`
	Extra any       `json:"extra,omitempty"`
}

// rowJSON summarises a row: scalars as they are, tensors as shape, first values and a statistic.
func rowJSON(i int, r schemas.ClipRow, p schemas.Provenance, framesOut string) map[string]any {
	N := len(r.TeacherTokens)
	feats := schemas.Float32s(nil, r.TeacherFeatures)
	var norm float64
	for t := 0; t < p.K*N; t++ {
		var s float64
		for _, v := range feats[t*p.D : (t+1)*p.D] {
			s += float64(v) * float64(v)
		}
		norm += math.Sqrt(s)
	}
	if p.K*N > 0 {
		norm /= float64(p.K * N)
	}
	attn := schemas.Float32s(nil, r.TeacherCLSAttn)
	attnSum := make([]float64, p.Frames)
	for t := range attnSum {
		for _, v := range attn[t*p.HW : (t+1)*p.HW] {
			attnSum[t] += float64(v)
		}
	}
	var pix float64
	for _, b := range r.Frames {
		pix += float64(b)
	}
	out := map[string]any{
		"row": i, "clip_id": r.ClipID, "source_uri": r.SourceURI,
		"span_start_s": r.SpanStartS, "span_end_s": r.SpanEndS,
		"caption": nullable(r.Caption), "label": nullable(r.Label),
		"frame_pts": r.FramePTS, "frame_time_s": r.FrameTimeS,
		"frames": tensorJSON{Shape: []int{p.Frames, p.Size, p.Size, 3}, Mean: pix / float64(max(1, len(r.Frames)))},
	}
	if p.HasTeacher() {
		out["teacher_layers"] = r.TeacherLayers
		out["teacher_tokens"] = map[string]any{"count": N, "first": r.TeacherTokens[:min(N, 16)]}
		out["teacher_features"] = tensorJSON{Shape: []int{p.K, N, p.D}, First: f64(feats[:min(len(feats), 8)]), Mean: mean(feats), Extra: map[string]float64{"mean_token_l2_norm": norm}}
		out["teacher_cls_attn"] = tensorJSON{Shape: []int{p.Frames, p.HW}, First: f64(attn[:min(len(attn), 8)]), Mean: mean(attn), Extra: map[string]any{"sum_per_frame": attnSum}}
	}
	if p.Masks > 0 {
		out["masks"] = map[string]any{"count": p.Masks, "visible_per_frame": p.VisiblePerFrame(), "first": r.Masks[:min(len(r.Masks), 16)]}
	}
	if framesOut != "" {
		paths, err := writeFramePNGs(framesOut, r, p)
		if err != nil {
			out["frames_error"] = err.Error()
		} else {
			out["frame_png"] = paths
		}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func mean(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(max(1, len(v)))
}

// writeFramePNGs writes frame t of r as DIR/<clip_id>-<t>.png.
func writeFramePNGs(dir string, r schemas.ClipRow, p schemas.Provenance) ([]string, error) {
	var paths []string
	S := p.Size
	for t := 0; t < p.Frames; t++ {
		img := image.NewNRGBA(image.Rect(0, 0, S, S))
		src := r.Frames[t*S*S*3 : (t+1)*S*S*3]
		for k := 0; k < S*S; k++ {
			copy(img.Pix[4*k:4*k+3], src[3*k:3*k+3])
			img.Pix[4*k+3] = 255
		}
		name := filepath.Join(dir, fmt.Sprintf("%s-%d.png", strings.ReplaceAll(r.ClipID, "/", "_"), t))
		f, err := os.Create(name)
		if err != nil {
			return nil, err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		paths = append(paths, name)
	}
	return paths, nil
}
