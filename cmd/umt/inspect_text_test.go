package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/transforms/text"
)

type inspectTextOut struct {
	Tokenizer struct {
		Spec        string `json:"spec"`
		VocabSHA256 string `json:"vocab_sha256"`
		VocabSize   int    `json:"vocab_size"`
		MaxTextLen  int    `json:"max_text_len"`
		PreText     bool   `json:"pre_text"`
	} `json:"tokenizer"`
	Captions []textRow   `json:"captions"`
	Summary  textSummary `json:"summary"`
}

func runInspectText(t *testing.T, args ...string) inspectTextOut {
	t.Helper()
	code, out := capture(t, append([]string{"inspect", "text", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("umt inspect text %v: exit %d\n%s", args, code, out)
	}
	var o inspectTextOut
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	return o
}

// TestInspectTextPrintsTheTokenizerIDs: the ids, masks and wordpieces the command prints are the
// tokenizer's, for captions given as arguments (with and without pre_text) and from a manifest.
func TestInspectTextPrintsTheTokenizerIDs(t *testing.T) {
	vocabDir := testenv.Testdata(t, "refdata", "umt", "bert-base-uncased")
	v, err := text.LoadVocab(context.Background(), vocabDir)
	if err != nil {
		t.Fatal(err)
	}
	tok := text.NewTokenizer(v)
	caps := []string{"A man is playing a guitar on the street.", "Café crème [MASK] 中文", "", strings.Repeat("word ", 40)}
	check := func(o inspectTextOut, caps []string, L int, pre bool) {
		t.Helper()
		if o.Tokenizer.VocabSHA256 != v.SHA256() || o.Tokenizer.MaxTextLen != L || o.Tokenizer.PreText != pre || o.Tokenizer.VocabSize != v.Size() {
			t.Errorf("header %+v", o.Tokenizer)
		}
		if len(o.Captions) != len(caps) || o.Summary.Captions != len(caps) {
			t.Fatalf("%d captions printed, summary %d, want %d", len(o.Captions), o.Summary.Captions, len(caps))
		}
		cut := 0
		for i, c := range caps {
			in := c
			if pre {
				in = text.PreText(c, 0)
			}
			ids, mask := tok.Encode(in, L)
			r := o.Captions[i]
			var m []uint8
			for _, x := range r.Mask {
				m = append(m, uint8(x))
			}
			if r.Caption != c || r.Text != in || !slices.Equal(r.IDs, ids) || !slices.Equal(m, mask) || !slices.Equal(r.Wordpieces, tok.Wordpieces(in)) {
				t.Errorf("caption %d %q: printed %+v, tokenizer ids %v mask %v", i, c, r, ids, mask)
			}
			if want := max(0, len(tok.IDs(in))-(L-1)); r.Cut != want {
				t.Errorf("caption %d: cut %d, want %d", i, r.Cut, want)
			} else if want > 0 {
				cut++
			}
		}
		if o.Summary.Cut != cut {
			t.Errorf("summary cut %d, want %d", o.Summary.Cut, cut)
		}
	}
	check(runInspectText(t, append([]string{"--tokenizer", vocabDir}, caps...)...), caps, 32, true)
	// Flags anywhere on the line.
	check(runInspectText(t, caps[0], "--max-text-len", "8", caps[1], "--pre-text=false", "--tokenizer", filepath.Join(vocabDir, "vocab.txt")), caps[:2], 8, false)

	// From a manifest's caption column, the first --rows entries.
	dir := t.TempDir()
	var lines []string
	for i, c := range caps {
		b, _ := json.Marshal(map[string]string{"video": "v" + string(rune('0'+i)) + ".mp4", "caption": c})
		lines = append(lines, string(b))
	}
	man := filepath.Join(dir, "m.jsonl")
	if err := os.WriteFile(man, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(runInspectText(t, "--tokenizer", vocabDir, "--manifest", man, "--rows", "3"), caps[:3], 32, true)

	// The table names every wordpiece and the cut.
	code, out := capture(t, "inspect", "text", "--tokenizer", vocabDir, "--max-text-len", "4", "Two dogs run across")
	if code != 0 || !strings.Contains(out, "[CLS] two  dogs run") || !strings.Contains(out, "cut: 1 of 4 wordpieces dropped") {
		t.Errorf("table (exit %d):\n%s", code, out)
	}
}

// TestInspectTextUsageErrors: what the command cannot do is a usage error (exit 2), a vocab it
// cannot read an error (exit 1).
func TestInspectTextUsageErrors(t *testing.T) {
	vocabDir := testenv.Testdata(t, "refdata", "umt", "bert-base-uncased")
	for _, args := range [][]string{
		{"--tokenizer", vocabDir},
		{"--tokenizer", vocabDir, "--manifest", "m.jsonl", "caption"},
		{"--tokenizer", vocabDir, "--max-text-len", "0", "x"},
		{"--tokenizer", vocabDir, "--rows", "3", "x"},
	} {
		if code, _ := capture(t, append([]string{"inspect", "text"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _ := capture(t, "inspect", "text", "--tokenizer", filepath.Join(t.TempDir(), "none.txt"), "x"); code != 1 {
		t.Errorf("missing vocab: exit %d, want 1", code)
	}
}

// TestInspectTextFetchesHubVocab: the default --tokenizer hf:bert-base-uncased is fetched from
// google-bert/bert-base-uncased through the hub cache (here a local stand-in of the hub).
func TestInspectTextFetchesHubVocab(t *testing.T) {
	vocab, err := os.ReadFile(testenv.Testdata(t, "refdata", "umt", "bert-base-uncased", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	const repo, commit = "google-bert/bert-base-uncased", "00112233445566778899aabbccddeeff00112233"
	blob := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(vocab))), vocab...))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/models/" + repo + "/revision/main":
			json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": []map[string]any{
				{"rfilename": "vocab.txt", "size": len(vocab), "blobId": hex.EncodeToString(blob[:])}}})
		case "/" + repo + "/resolve/" + commit + "/vocab.txt":
			w.Write(vocab)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("UMT_CACHE", t.TempDir())
	o := runInspectText(t, "a guitar")
	if o.Tokenizer.Spec != "hf:bert-base-uncased" || o.Tokenizer.VocabSize != 30522 || len(o.Captions) != 1 ||
		!slices.Equal(o.Captions[0].IDs[:3], []int32{101, 1037, 2858}) {
		t.Errorf("output %+v", o)
	}
}
