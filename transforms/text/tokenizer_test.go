package text

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

// bertTokenizer is the tokenizer over the bundled bert-base-uncased vocab.
func bertTokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	v, err := LoadVocab(context.Background(), testenv.Testdata(tb, "refdata", "umt", "bert-base-uncased"))
	if err != nil {
		tb.Fatal(err)
	}
	return NewTokenizer(v)
}

// TestBasicTokenizerEdgeCases: the basic tokenizer's rules, one case each, on bert-base-uncased.
func TestBasicTokenizerEdgeCases(t *testing.T) {
	tok := bertTokenizer(t)
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"lower-cases", "HeLLo", []string{"hello"}},
		{"strips accents", "Héllo naïve CAFÉ", []string{"hello", "naive", "cafe"}},
		{"strips combining marks written apart", "he\u0301llo", []string{"hello"}},
		{"a word of marks only vanishes", "a \u0301\u0308 b", []string{"a", "b"}},
		{"splits CJK ideographs", "中文", []string{"中", "文"}},
		{"CJK inside a word", "a中b", []string{"a", "中", "b"}},
		{"drops control characters", "a\x07b\x00c\x7f", []string{"abc"}},
		{"drops format characters", "a\u200bb\u00adc", []string{"abc"}},
		{"drops unassigned and private-use characters", "a\U000E0080b\uE000c", []string{"abc"}},
		{"drops U+FFFD and invalid UTF-8", "a\uFFFDb\xffc", []string{"abc"}},
		{"tab newline and return separate words", "a\tb\nc\rx", []string{"a", "b", "c", "x"}},
		{"Zs and line separators separate words", "a\u00a0b\u3000x\u2028y", []string{"a", "b", "x", "y"}},
		{"splits punctuation", "hello,world!", []string{"hello", ",", "world", "!"}},
		{"ASCII symbols count as punctuation", "$5", []string{"$", "5"}},
		{"every punctuation character is its own word", "a...", []string{"a", ".", ".", "."}},
		{"keeps [MASK] whole", "[MASK]", []string{"[MASK]"}},
		{"keeps specials whole inside words", "x[MASK]y[SEP]", []string{"x", "[MASK]", "y", "[SEP]"}},
		{"specials are case-sensitive", "[mask]", []string{"[", "mask", "]"}},
		{"an unclosed special is text", "[MASK", []string{"[", "mask"}},
		{"an opening bracket before a special", "[[CLS]", []string{"[", "[CLS]"}},
		{"all five specials", "[PAD][UNK][CLS][SEP][MASK]", []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}},
		{"dotted capital I lowers to i", "İ", []string{"i"}},
		{"unknown symbol is [UNK]", "a 👍 b", []string{"a", "[UNK]", "b"}},
		{"101-character word is [UNK]", strings.Repeat("a", 101), []string{"[UNK]"}},
		{"101 accented characters count after accent stripping", strings.Repeat("a\u0301", 101), []string{"[UNK]"}},
		{"empty", "", []string{}},
		{"whitespace only", " \t\n ", []string{}},
	} {
		if got := tok.Wordpieces(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s: Wordpieces(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

// TestWordOf100CharactersIsSplit: the [UNK] rule starts above MaxWordChars, not at it.
func TestWordOf100CharactersIsSplit(t *testing.T) {
	tok := bertTokenizer(t)
	got := tok.Wordpieces(strings.Repeat("a", MaxWordChars))
	if len(got) < 2 || slices.Contains(got, UnkToken) || strings.Join(got, "") != strings.Repeat("a", MaxWordChars)+strings.Repeat("##", len(got)-1) && !strings.HasPrefix(got[1], "##") {
		t.Errorf("100 a's: %q, want a split into a and ## pieces", got)
	}
}

// TestCapitalSigmaIsLoweredPerCharacter: the tokenizer lowers each character on its own (σ even
// at a word's end) while PreText lowers the whole string (final ς).
func TestCapitalSigmaIsLoweredPerCharacter(t *testing.T) {
	tok := bertTokenizer(t)
	if a, b := tok.Wordpieces("ΟΔΥΣΣΕΥΣ"), tok.Wordpieces("οδυσσευσ"); !slices.Equal(a, b) {
		t.Errorf("per-character lowering: %q vs %q", a, b)
	}
	if a, b := tok.Wordpieces("ΟΔΥΣΣΕΥΣ"), tok.Wordpieces("οδυσσευς"); slices.Equal(a, b) {
		t.Errorf("final sigma must not be produced by the tokenizer: %q", a)
	}
}

// TestWordPieceIsGreedyLongestMatchFirst on a small vocabulary where the greedy split is not
// the only one.
func TestWordPieceIsGreedyLongestMatchFirst(t *testing.T) {
	v, err := ParseVocab([]byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\n##ff\nuna\n##a\n"))
	if err != nil {
		t.Fatal(err)
	}
	tok := NewTokenizer(v)
	for in, want := range map[string][]string{
		"unaffable": {"una", "##ff", "##able"}, // not un ##aff ##able: "una" is the longest first match
		"unx":       {"[UNK]"},                 // a word whose rest matches nothing is one [UNK]
		"un unx un": {"un", "[UNK]", "un"},
		"unaa":      {"una", "##a"},
	} {
		if got := tok.Wordpieces(in); !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	// Truncation inside a word that later turns out unknown still yields [UNK], not a prefix.
	ids, _ := tok.Encode("unx", 2)
	if ids[1] != v.Unk {
		t.Errorf("truncated unknown word: %v", ids)
	}
}

// TestEncodeIsClsPlusTruncatedWordpieces: for every reference caption and every maxLen from 0
// to 40, EncodeInto is [CLS] + the first maxLen−1 wordpiece ids + [PAD]s, mask 1…1 0…0, no [SEP].
func TestEncodeIsClsPlusTruncatedWordpieces(t *testing.T) {
	_, r, tok, _ := loadRefs(t)
	v := tok.Vocab()
	for _, c := range append(r.Captions, r.PreTextCaptions...) {
		all := tok.IDs(c)
		for L := 0; L <= 40; L++ {
			ids, mask := tok.Encode(c, L)
			var want []int32
			if L > 0 {
				want = append([]int32{v.Cls}, all[:min(len(all), L-1)]...)
			}
			real := len(want)
			for len(want) < L {
				want = append(want, v.Pad)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("%q at %d: %v, want %v", c, L, ids, want)
			}
			for i, m := range mask {
				if m != b2u(i < real) {
					t.Fatalf("%q at %d: mask %v, want %d ones", c, L, mask, real)
				}
			}
		}
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// TestEncodeIntoIsSafeForConcurrentUse: goroutines sharing one Tokenizer get the serial results.
func TestEncodeIntoIsSafeForConcurrentUse(t *testing.T) {
	_, r, tok, _ := loadRefs(t)
	caps := append(r.Captions, r.PreTextCaptions...)
	want := make([][]int32, len(caps))
	for i, c := range caps {
		want[i], _ = tok.Encode(c, 32)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ids, mask := make([]int32, 32), make([]uint8, 32)
			for n := 0; n < 200; n++ {
				i := (n*7 + g) % len(caps)
				tok.EncodeInto(ids, mask, caps[i])
				if !slices.Equal(ids, want[i]) {
					errs <- fmt.Sprintf("goroutine %d caption %d: %v, want %v", g, i, ids, want[i])
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestEncodeIntoDoesNotAllocate: steady-state EncodeInto allocates nothing, ASCII or not.
func TestEncodeIntoDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Log("the race detector makes sync.Pool drop items; allocations are not measured under -race")
		return
	}
	tok := bertTokenizer(t)
	ids, mask := make([]int32, 32), make([]uint8, 32)
	for _, c := range []string{
		"A man is playing a guitar on the street.",
		"Café owners serve crème brûlée & naïve piñatas. 一个女孩在公园里跑步 [MASK] ΟΔΥΣΣΕΥΣ",
		strings.Repeat("supercalifragilistic ", 40),
	} {
		tok.EncodeInto(ids, mask, c)
		if n := testing.AllocsPerRun(200, func() { tok.EncodeInto(ids, mask, c) }); n != 0 {
			t.Errorf("%q: %.1f allocations per EncodeInto", c, n)
		}
	}
}

// TestEncodeIntoRejectsMismatchedLengths: ids and mask of different lengths are a caller bug
// reported by a panic naming both lengths.
func TestEncodeIntoRejectsMismatchedLengths(t *testing.T) {
	tok := bertTokenizer(t)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "3 ids and 2 mask") {
			t.Errorf("recovered %v", r)
		}
	}()
	tok.EncodeInto(make([]int32, 3), make([]uint8, 2), "x")
}

// TestLoadVocabAcceptsFileDirectoryAndURI: the three local spellings of one vocab agree.
func TestLoadVocabAcceptsFileDirectoryAndURI(t *testing.T) {
	dir := testenv.Testdata(t, "refdata", "umt", "bert-base-uncased")
	var sums []string
	for _, spec := range []string{dir, filepath.Join(dir, "vocab.txt"), "file://" + filepath.Join(dir, "vocab.txt")} {
		v, err := LoadVocab(context.Background(), spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if v.Size() != 30522 || v.Pad != 0 || v.Unk != 100 || v.Cls != 101 || v.Sep != 102 || v.Mask != 103 {
			t.Errorf("%s: size %d, specials %d %d %d %d %d", spec, v.Size(), v.Pad, v.Unk, v.Cls, v.Sep, v.Mask)
		}
		sums = append(sums, v.SHA256())
	}
	if sums[0] != sums[1] || sums[1] != sums[2] {
		t.Errorf("sha256 differs by spelling: %v", sums)
	}
	for _, c := range []struct{ spec, want string }{
		{filepath.Join(t.TempDir(), "nope.txt"), "hf:owner/name"},
		{t.TempDir(), "vocab.txt"},
		{"hf:bert-base-uncased", "no hub"},
	} {
		if _, err := LoadVocab(context.Background(), c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadVocab(%q): %v, want an error mentioning %q", c.spec, err, c.want)
		}
	}
}

// fakeHub records the repository asked for and serves a directory.
type fakeHub struct {
	dir  string
	repo string
}

func (h *fakeHub) Fetch(_ context.Context, repo string, files ...string) (string, error) {
	h.repo = repo
	if !slices.Equal(files, []string{"vocab.txt"}) {
		return "", fmt.Errorf("asked for %v", files)
	}
	return h.dir, nil
}

// TestLoadVocabResolvesHubNames: hf:NAME goes through the hub, the legacy bert names to
// google-bert's repositories.
func TestLoadVocabResolvesHubNames(t *testing.T) {
	h := &fakeHub{dir: testenv.Testdata(t, "refdata", "umt", "bert-base-uncased")}
	for spec, repo := range map[string]string{
		"hf:bert-base-uncased":            "google-bert/bert-base-uncased",
		"hf:someone/bert-base-uncased-ft": "someone/bert-base-uncased-ft",
	} {
		v, err := LoadVocab(context.Background(), spec, VocabOptions{Hub: h})
		if err != nil || h.repo != repo || v.Size() != 30522 {
			t.Errorf("%s: repo %q, err %v", spec, h.repo, err)
		}
	}
}

// TestParseVocabLinesAsPython: line breaks as Python's universal newlines read them, ids =
// line numbers, a trailing break adds no token, missing specials are named.
func TestParseVocabLinesAsPython(t *testing.T) {
	specials := "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n[MASK]"
	for _, c := range []struct {
		in   string
		want []string
	}{
		{specials, []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}},
		{specials + "\n", []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}},
		{specials + "\n\nx \n", []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "", "x "}},
	} {
		v, err := ParseVocab([]byte(c.in))
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		var got []string
		for i := 0; i < v.Size(); i++ {
			got = append(got, v.Token(int32(i)))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
	if _, err := ParseVocab([]byte("[PAD]\n[UNK]\n[CLS]\n")); err == nil || !strings.Contains(err.Error(), "[SEP] [MASK]") {
		t.Errorf("missing specials: %v", err)
	}
	if _, err := ParseVocab([]byte("[PAD]\n\xff\n")); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
}
