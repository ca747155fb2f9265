package prep

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest/manifesttest"
	"github.com/umt-dev/umt/transforms/text"
)

// TestCaptionTokensAreTheTokenizers: with --tokenizer, every row of a captioned manifest, in
// every format, stores for each of its captions exactly the ids and mask transforms/text gives
// (after pre_text), the provenance names the vocabulary by sha256, and a caption list (UMT JSON)
// is one row with all its captions.
func TestCaptionTokensAreTheTokenizers(t *testing.T) {
	c := newBadTextCase(t) // three copies of one small video, captions in UTF-8 and Latin-1
	vocabDir := filepath.Join(testenv.RefData(t), "bert-base-uncased")
	v, err := text.LoadVocab(context.Background(), vocabDir)
	if err != nil {
		t.Fatal(err)
	}
	tok := text.NewTokenizer(v)
	const L = 12
	check := func(t *testing.T, man string, wantRows int) map[string]schemas.ClipRow {
		out := filepath.Join(t.TempDir(), "ds")
		cfg := tinyConfig(t, man, c.dir, out)
		cfg.Tokenizer, cfg.MaxTextLen = vocabDir, L
		if _, err := prepareRun(context.Background(), cfg); err != nil {
			t.Fatalf("the job failed: %v", err)
		}
		rows, _ := readDataset(t, out)
		if len(rows) != wantRows {
			t.Fatalf("%d rows, want %d", len(rows), wantRows)
		}
		for uri, r := range rows {
			ids, mask := tok.Captions(r.Captions(), L, true)
			if !slices.Equal(r.CaptionIDs, ids) || !slices.Equal(r.CaptionMask, mask) {
				t.Errorf("%s: stored ids %v mask %v, the tokenizer gives %v %v", uri, r.CaptionIDs, r.CaptionMask, ids, mask)
			}
			if r.Caption != "" && len(ids) == 0 {
				t.Errorf("%s: a caption without tokens", uri)
			}
		}
		p := datasetProvenance(t, out)
		if p.Text == nil || p.Text.VocabSHA256 != v.SHA256() || p.Text.MaxLen != L || !p.Text.PreText || p.Text.VocabSize != v.Size() {
			t.Fatalf("provenance text %+v; want the vocab's sha256 %s, max_len %d, pre_text", p.Text, v.SHA256(), L)
		}
		return rows
	}
	for _, f := range manifesttest.Formats {
		t.Run(f.Name, func(t *testing.T) {
			data, err := manifesttest.Encode(f.Name, c.entries)
			if err != nil {
				t.Fatal(err)
			}
			man := filepath.Join(t.TempDir(), "manifest"+f.Ext)
			if err := os.WriteFile(man, data, 0o644); err != nil {
				t.Fatal(err)
			}
			check(t, man, 3)
		})
	}
	t.Run("caption list", func(t *testing.T) {
		man := filepath.Join(t.TempDir(), "anno.json")
		js := `[{"video": "good.mp4", "caption": ["A man is cooking.", "someone cooks -- in a kitchen/restaurant", "<person> stirs a pot"]},
		        {"video": "latin.mp4"}]`
		if err := os.WriteFile(man, []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		rows := check(t, man, 2)
		r := rows[filepath.Join(c.dir, "good.mp4")]
		if r.Caption != "A man is cooking." || len(r.ExtraCaptions) != 2 || len(r.CaptionIDs) != 3*L {
			t.Fatalf("caption list stored as %q + %q with %d ids", r.Caption, r.ExtraCaptions, len(r.CaptionIDs))
		}
		if r := rows[filepath.Join(c.dir, "latin.mp4")]; r.CaptionIDs != nil || r.Caption != "" {
			t.Fatalf("a row without a caption has tokens %v", r.CaptionIDs)
		}
	})
}

func datasetProvenance(t *testing.T, out string) schemas.Provenance {
	t.Helper()
	p, _, _ := datasetContents(t, out)
	return p
}
