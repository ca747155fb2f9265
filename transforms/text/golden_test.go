package text

import (
	"os"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

// TestGoldenCaptionsMatchOfficialTokenizer: random captions over most of Unicode (see
// testdata/text/README.md) get the official tokenizer's wordpieces and pre_text's output.
func TestGoldenCaptionsMatchOfficialTokenizer(t *testing.T) {
	path := testenv.Testdata(t, "text", "golden.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Python      string `json:"python"`
		Unicodedata string `json:"unicodedata"`
		Seed        int    `json:"seed"`
		Cases       []struct {
			Caption           string   `json:"caption"`
			Wordpieces        []string `json:"wordpieces"`
			PreText           string   `json:"pre_text"`
			PreTextWordpieces []string `json:"pre_text_wordpieces"`
			PreText3          string   `json:"pre_text_3"`
		} `json:"cases"`
	}
	if err := decodeStrict(data, &g); err != nil || len(g.Cases) == 0 {
		t.Fatalf("%s: %v, %d cases", path, err, len(g.Cases))
	}
	tok := bertTokenizer(t)
	for i, c := range g.Cases {
		if got := tok.Wordpieces(c.Caption); !slices.Equal(got, c.Wordpieces) {
			t.Errorf("case %d %q: wordpieces\n got %q\nwant %q", i, c.Caption, got, c.Wordpieces)
		}
		if got := PreText(c.Caption, 0); got != c.PreText {
			t.Errorf("case %d %q: pre_text\n got %q\nwant %q", i, c.Caption, got, c.PreText)
		}
		if got := PreText(c.Caption, 3); got != c.PreText3 {
			t.Errorf("case %d %q: pre_text max_l 3\n got %q\nwant %q", i, c.Caption, got, c.PreText3)
		}
		if got := tok.Wordpieces(c.PreText); !slices.Equal(got, c.PreTextWordpieces) {
			t.Errorf("case %d %q: wordpieces after pre_text\n got %q\nwant %q", i, c.PreText, got, c.PreTextWordpieces)
		}
	}
	if t.Failed() {
		t.Logf("the golden file was made with Python %s (Unicode %s); characters whose properties changed between that Unicode version and Go's differ legitimately", g.Python, g.Unicodedata)
	}
}
