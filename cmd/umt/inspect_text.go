package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/text"
)

// textFlags are the flags of umt inspect text.
type textFlags struct {
	tokenizer  string
	maxTextLen int
	preText    bool
	asJSON     bool
	manifest   string
	format     string
	csvSep     string
	rows       int
	weights    string // text encoder: run it on every caption when set
	heads      int
	device     string
	threads    int
}

func init() {
	defaults := textFlags{tokenizer: "hf:bert-base-uncased", maxTextLen: 32, preText: true, device: "cpu"}
	var f textFlags
	register(&Command{
		Path:  "inspect text",
		Short: "tokenize captions as UMT's stage 2 does: wordpieces, ids and attention masks",
		Long: `Cleans each caption with UMT's pre_text (on by default; --pre-text=false tokenizes the raw
caption) and tokenizes it with the uncased BERT WordPiece tokenizer read from --tokenizer, then
prints what the text encoder gets: [CLS] followed by the wordpieces, cut to --max-text-len − 1
of them, no [SEP] (the official code's quirk), [PAD] up to --max-text-len, and the attention mask
(1 on [CLS] and the wordpieces). Captions come from the arguments or from the caption column of
--manifest (UMT JSON list, JSONL, CSV or Parquet; local, gs:// or https://). After the captions
it prints a summary: how many were cut, how many hold [UNK], the longest.

--tokenizer takes hf:owner/name (hf:bert-base-uncased and hf:bert-large-uncased name
google-bert's repositories; fetched into the cache and checksum-verified), a Hugging Face model
directory holding vocab.txt, or a vocab.txt path or URI. --json prints one JSON object: the
tokenizer (spec, vocab_sha256, vocab_size, max_text_len, pre_text), "captions" (index, caption,
text after pre_text, wordpieces before the cut, ids, mask, cut) and "summary".

--weights runs the text encoder (text mode: embeddings and the layers below fusion_layer, as
UMT's text_embeds) on each caption and prints its [CLS] hidden state, the pooled text feature
UMT projects for VTC: its norm, mean, std and first values in the table, every value in --json
("cls"). It takes hf:owner/name (e.g. hf:bert-base-uncased), a Hugging Face model directory
(config.json + model.safetensors), or a safetensors file: a Hugging Face BERT or a UMT stage-2
checkpoint (text_encoder.*), its architecture read from the shapes (--heads when no config.json
says; default hidden/64).

Examples:
  umt inspect text "A man is playing a guitar on the street."
  umt inspect text --tokenizer testdata/refdata/umt/bert-base-uncased --max-text-len 16 "Two dogs run!" "Café crème"
  umt inspect text --manifest gs://my-bucket/webvid/train.json --rows 1000 --json
  umt inspect text --pre-text=false --tokenizer hf:google-bert/bert-large-uncased "[MASK] is sitting"
  umt inspect text --weights hf:bert-base-uncased "A man is playing a guitar."
  umt inspect text --weights testdata/refdata/umt/stage2_tiny_weights.safetensors --heads 4 \
      --tokenizer testdata/refdata/umt/bert-base-uncased --json "A dog runs."`,
		Flags: func(fs *flag.FlagSet) {
			f = defaults // each run starts from the defaults, not the previous run's values
			fs.StringVar(&f.tokenizer, "tokenizer", f.tokenizer, "vocab: hf:NAME, a Hugging Face model directory holding vocab.txt, or a vocab.txt path or URI")
			fs.IntVar(&f.maxTextLen, "max-text-len", f.maxTextLen, "ids per caption, [CLS] and padding included (UMT's max_txt_l)")
			fs.BoolVar(&f.preText, "pre-text", f.preText, "clean captions with UMT's pre_text before tokenizing (default true; --pre-text=false for raw captions)")
			fs.BoolVar(&f.asJSON, "json", false, "print one JSON object instead of tables")
			fs.StringVar(&f.manifest, "manifest", "", "read the captions of this manifest instead of the arguments")
			fs.StringVar(&f.format, "format", "", "manifest format json|jsonl|csv|parquet (default: from the file name)")
			fs.StringVar(&f.csvSep, "csv-sep", "", `CSV separator (default ","; "\t" for .tsv)`)
			fs.IntVar(&f.rows, "rows", 0, "with --manifest: only its first N entries (0: all)")
			fs.StringVar(&f.weights, "weights", "", "text encoder to run on each caption: hf:NAME, a Hugging Face model directory, or a safetensors file (HF BERT or UMT stage-2 checkpoint)")
			fs.IntVar(&f.heads, "heads", 0, "with --weights and no config.json: attention heads (default hidden/64)")
			fs.StringVar(&f.device, "device", f.device, "with --weights: compute backend cpu (the float32 reference), auto, cuda or cuda:N")
			fs.IntVar(&f.threads, "threads", 0, "with --weights: CPU threads (default: all)")
		},
		Exec: func(args []string) error {
			switch {
			case f.manifest == "" && len(args) == 0:
				return usagef("give captions as arguments or --manifest URI")
			case f.manifest != "" && len(args) > 0:
				return usagef("give captions as arguments or --manifest, not both (got %d arguments)", len(args))
			case f.maxTextLen < 1:
				return usagef("--max-text-len must be ≥ 1 (room for [CLS]), got %d", f.maxTextLen)
			case f.rows < 0:
				return usagef("--rows must be ≥ 0")
			case f.manifest == "" && (f.rows != 0 || f.format != "" || f.csvSep != ""):
				return usagef("--rows, --format and --csv-sep apply to --manifest")
			case f.weights == "" && (f.heads != 0 || f.threads != 0):
				return usagef("--heads and --threads apply to --weights")
			}
			return inspectText(context.Background(), f, args)
		},
	})
}

// textRow is one caption as the text encoder receives it.
type textRow struct {
	Index      int64     `json:"index"`
	Caption    string    `json:"caption"`
	Text       string    `json:"text"`            // what was tokenized: the caption after pre_text, or the caption
	Wordpieces []string  `json:"wordpieces"`      // every wordpiece, before the cut to max_text_len − 1
	IDs        []int32   `json:"ids"`             // [CLS] + kept wordpieces + [PAD]…, length max_text_len
	Mask       []int     `json:"mask"`            // ints, not bytes, so JSON shows 1 and 0
	Cut        int       `json:"cut"`             // wordpieces dropped by the cut
	CLS        *clsState `json:"cls,omitempty"`   // with --weights: the text encoder's [CLS] output
	Err        string    `json:"error,omitempty"` // a manifest entry that could not be read
}

// textSummary describes a run over many captions.
type textSummary struct {
	Captions       int   `json:"captions"`
	Errors         int   `json:"errors"`
	Cut            int   `json:"cut"`              // captions with wordpieces dropped
	WithUnk        int   `json:"with_unk"`         // captions holding [UNK]
	MaxWordpieces  int   `json:"max_wordpieces"`   // the longest caption, in wordpieces
	LongestIndex   int64 `json:"longest_index"`    // and its index
	TotalWordpiece int   `json:"total_wordpieces"` // before the cut
}

func (s *textSummary) add(r textRow, unk string) {
	if r.Err != "" {
		s.Errors++
		return
	}
	s.Captions++
	s.TotalWordpiece += len(r.Wordpieces)
	if r.Cut > 0 {
		s.Cut++
	}
	for _, w := range r.Wordpieces {
		if w == unk {
			s.WithUnk++
			break
		}
	}
	if len(r.Wordpieces) > s.MaxWordpieces {
		s.MaxWordpieces, s.LongestIndex = len(r.Wordpieces), r.Index
	}
}

// tokenizeRow turns one caption into what the text encoder gets.
func tokenizeRow(tok *text.Tokenizer, f textFlags, index int64, caption string) textRow {
	r := textRow{Index: index, Caption: caption, Text: caption}
	if f.preText {
		r.Text = text.PreText(caption, 0)
	}
	r.Wordpieces = tok.Wordpieces(r.Text)
	ids, mask := tok.Encode(r.Text, f.maxTextLen)
	r.IDs, r.Mask = ids, make([]int, len(mask))
	for i, m := range mask {
		r.Mask[i] = int(m)
	}
	r.Cut = max(0, len(r.Wordpieces)-(f.maxTextLen-1))
	return r
}

// captionSource calls fn with each caption of the arguments or the manifest, in order.
func captionSource(ctx context.Context, f textFlags, args []string, fn func(index int64, caption, err string) error) error {
	if f.manifest == "" {
		for i, a := range args {
			if err := fn(int64(i), a, ""); err != nil {
				return err
			}
		}
		return nil
	}
	var opt manifest.Options
	if f.format != "" {
		var err error
		if opt.Format, err = manifest.ParseFormat(f.format); err != nil {
			return usagef("--format: %v", err)
		}
	}
	if sep := []rune(strings.ReplaceAll(f.csvSep, `\t`, "\t")); len(sep) == 1 {
		opt.Sep = sep[0]
	} else if len(sep) > 1 {
		return usagef("--csv-sep wants one character, got %q", f.csvSep)
	}
	errStop := errors.New("enough rows")
	err := manifest.Read(ctx, f.manifest, opt, func(r manifest.Row) error {
		if f.rows > 0 && r.Index >= int64(f.rows) {
			return errStop
		}
		return fn(r.Index, r.Caption, r.Err)
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// inspectText loads the vocab and prints every caption's model input. tokenizeRow builds
// exactly the (ids, mask) pair models/bert's text mode takes, so running the text encoder is a
// step between tokenizeRow and the printer.
func inspectText(ctx context.Context, f textFlags, args []string) error {
	v, err := text.LoadVocab(ctx, f.tokenizer, text.VocabOptions{Hub: &weights.Hub{}})
	if err != nil {
		return err
	}
	tok := text.NewTokenizer(v)
	var enc *textEncoder
	if f.weights != "" {
		if enc, err = openTextEncoder(ctx, f, v.Size()); err != nil {
			return err
		}
		defer enc.close()
	}
	var out textPrinter = &textTable{w: bufio.NewWriter(stdout), tok: tok}
	if f.asJSON {
		out = &textJSON{w: bufio.NewWriter(stdout)}
	}
	if err := out.begin(f, v, enc); err != nil {
		return err
	}
	var sum textSummary
	err = captionSource(ctx, f, args, func(index int64, caption, rowErr string) error {
		r := textRow{Index: index, Caption: caption, Err: rowErr}
		if rowErr == "" {
			r = tokenizeRow(tok, f, index, caption)
			if enc != nil {
				if r.CLS, err = enc.cls(r.IDs, r.Mask); err != nil {
					return fmt.Errorf("caption %d: %w", index, err)
				}
			}
		}
		sum.add(r, text.UnkToken)
		return out.row(r)
	})
	if err != nil {
		return err
	}
	return out.end(sum)
}

// textPrinter writes the tokenizer header, one entry per caption, and the summary.
type textPrinter interface {
	begin(f textFlags, v *text.Vocab, enc *textEncoder) error
	row(r textRow) error
	end(s textSummary) error
}

// textJSON streams one JSON object, so a whole corpus never sits in memory.
type textJSON struct {
	w     *bufio.Writer
	count int
}

func (p *textJSON) begin(f textFlags, v *text.Vocab, enc *textEncoder) error {
	head, err := json.Marshal(map[string]any{"spec": f.tokenizer, "vocab_sha256": v.SHA256(), "vocab_size": v.Size(),
		"max_text_len": f.maxTextLen, "pre_text": f.preText})
	if err != nil {
		return err
	}
	if _, err = fmt.Fprintf(p.w, "{\"tokenizer\":%s,", head); err != nil {
		return err
	}
	if enc != nil {
		e, err := json.Marshal(enc.describe())
		if err != nil {
			return err
		}
		fmt.Fprintf(p.w, "\"text_encoder\":%s,", e)
	}
	_, err = p.w.WriteString("\"captions\":[")
	return err
}

func (p *textJSON) row(r textRow) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if p.count > 0 {
		p.w.WriteByte(',')
	}
	p.count++
	p.w.WriteString("\n")
	_, err = p.w.Write(b)
	return err
}

func (p *textJSON) end(s textSummary) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.w, "\n],\"summary\":%s}\n", b)
	return p.w.Flush()
}

// textTable prints each caption as three aligned lines (token, id, mask) with the padding
// summarised, then the summary.
type textTable struct {
	w   *bufio.Writer
	tok *text.Tokenizer
}

func (p *textTable) begin(f textFlags, v *text.Vocab, enc *textEncoder) error {
	_, err := fmt.Fprintf(p.w, "tokenizer %s (vocab %d tokens, sha256 %s), max_text_len %d, pre_text %v\n",
		f.tokenizer, v.Size(), v.SHA256(), f.maxTextLen, f.preText)
	if err == nil && enc != nil {
		d := enc.describe()
		_, err = fmt.Fprintf(p.w, "text encoder %s (%s): hidden %d, text layers %d of %d (fusion_layer %d), heads %d, on %s\n",
			d.Spec, d.Source, d.Config.Hidden, d.Config.FusionLayer, d.Config.Layers, d.Config.FusionLayer, d.Config.Heads, d.Backend)
	}
	return err
}

func (p *textTable) row(r textRow) error {
	fmt.Fprintf(p.w, "\n[%d] %q\n", r.Index, r.Caption)
	if r.Err != "" {
		_, err := fmt.Fprintf(p.w, "    error: %s\n", r.Err)
		return err
	}
	if r.Text != r.Caption {
		fmt.Fprintf(p.w, "    text: %q\n", r.Text)
	}
	v := p.tok.Vocab()
	tw := tabwriter.NewWriter(p.w, 0, 0, 1, ' ', 0)
	lines := [3][]string{{"    token"}, {"    id"}, {"    mask"}}
	pads := 0
	for i, id := range r.IDs {
		if r.Mask[i] == 0 {
			pads++
			continue
		}
		lines[0] = append(lines[0], v.Token(id))
		lines[1] = append(lines[1], fmt.Sprint(id))
		lines[2] = append(lines[2], "1")
	}
	if pads > 0 {
		lines[0] = append(lines[0], fmt.Sprintf("%s×%d", text.PadToken, pads))
		lines[1] = append(lines[1], fmt.Sprint(v.Pad))
		lines[2] = append(lines[2], "0")
	}
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Cut > 0 {
		fmt.Fprintf(p.w, "    cut: %d of %d wordpieces dropped (--max-text-len %d keeps %d)\n", r.Cut, len(r.Wordpieces), len(r.IDs), len(r.IDs)-1)
	}
	if c := r.CLS; c != nil {
		first := c.Values[:min(6, len(c.Values))]
		fmt.Fprintf(p.w, "    cls: norm %.4f, mean %.4f, std %.4f, first %s\n", c.Norm, c.Mean, c.Std, fmtFloats(first))
	}
	return nil
}

func fmtFloats(v []float32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (p *textTable) end(s textSummary) error {
	fmt.Fprintf(p.w, "\ncaptions %d, cut %d, with [UNK] %d, errors %d", s.Captions, s.Cut, s.WithUnk, s.Errors)
	if s.Captions > 0 {
		fmt.Fprintf(p.w, "; wordpieces mean %.1f, max %d (caption %d)", float64(s.TotalWordpiece)/float64(s.Captions), s.MaxWordpieces, s.LongestIndex)
	}
	fmt.Fprintln(p.w)
	return p.w.Flush()
}
