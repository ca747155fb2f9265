package text

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/umt-dev/umt/internal/testenv"
)

// tokManifest is manifest.json → tokenizer of a reference set. Decoding rejects a field it does
// not know, so a set with an option this code does not reproduce fails instead of being
// checked against another configuration.
type tokManifest struct {
	VocabFile       string `json:"vocab_file"`
	VocabSHA256     string `json:"vocab_sha256"`
	MaxLengths      []int  `json:"max_lengths"`
	JSON            string `json:"json"`
	VocabProvenance string `json:"vocab_provenance"` // prose
}

// encodingRef is one caption's tokenizer(...) output at one max_length.
type encodingRef struct {
	InputIDs      []int32  `json:"input_ids"`
	AttentionMask []uint8  `json:"attention_mask"`
	TokenTypeIDs  []int32  `json:"token_type_ids"` // unused by the model
	Tokens        []string `json:"tokens"`
}

// tokRefs is the reference JSON (tokenizer_refs.json in the public set).
type tokRefs struct {
	Captions            []string                 `json:"captions"`
	SpecialTokens       []string                 `json:"special_tokens"`
	SpecialTokenIDs     []int32                  `json:"special_token_ids"`
	UniqueNoSplit       []string                 `json:"unique_no_split_tokens"`
	PerMaxLength        map[string][]encodingRef `json:"per_max_length"`
	Untruncated         []wordpieceRef           `json:"untruncated_tokenize"`
	PreTextSource       string                   `json:"pre_text_source"` // the Python source, for people
	PreTextCaptions     []string                 `json:"pre_text_captions"`
	PreTextPerMaxLength map[string][]encodingRef `json:"pre_text_per_max_length"`
}

type wordpieceRef struct {
	Wordpieces []string `json:"wordpieces"`
	IDs        []int32  `json:"ids"`
}

func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// loadRefs reads the tokenizer part of UMT_REFDATA and the tokenizer over its vocab, failing
// with the reason when the set lacks something or holds an option this package does not offer.
func loadRefs(t testing.TB) (tokManifest, tokRefs, *Tokenizer, string) {
	t.Helper()
	dir := testenv.RefData(t)
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var top struct {
		Tokenizer json.RawMessage `json:"tokenizer"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatalf("%s/manifest.json: %v", dir, err)
	}
	if top.Tokenizer == nil {
		t.Fatalf("%s/manifest.json has no \"tokenizer\" section; a tokenizer reference set names its vocab_file, vocab_sha256, max_lengths and json", dir)
	}
	var m tokManifest
	if err := decodeStrict(top.Tokenizer, &m); err != nil {
		t.Fatalf("%s/manifest.json tokenizer: %v (this test reproduces an uncased BERT tokenizer from a vocab file and checks max_lengths; it cannot honour other options)", dir, err)
	}
	if m.VocabFile == "" || m.JSON == "" || len(m.MaxLengths) == 0 {
		t.Fatalf("%s/manifest.json tokenizer: vocab_file, json and max_lengths are required, got %+v", dir, m)
	}
	v, err := LoadVocab(context.Background(), filepath.Join(dir, m.VocabFile))
	if err != nil {
		t.Fatal(err)
	}
	if m.VocabSHA256 != "" && v.SHA256() != m.VocabSHA256 {
		t.Fatalf("%s: sha256 %s, the manifest says %s", m.VocabFile, v.SHA256(), m.VocabSHA256)
	}
	data, err := os.ReadFile(filepath.Join(dir, m.JSON))
	if err != nil {
		t.Fatal(err)
	}
	var r tokRefs
	if err := decodeStrict(data, &r); err != nil {
		t.Fatalf("%s: %v (a field this test does not know is a reference it would not check)", m.JSON, err)
	}
	n := len(r.Captions)
	if n == 0 || len(r.Untruncated) != n || len(r.PreTextCaptions) != n {
		t.Fatalf("%s: %d captions, %d untruncated tokenizations, %d pre_text captions; want one of each per caption", m.JSON, n, len(r.Untruncated), len(r.PreTextCaptions))
	}
	for _, L := range m.MaxLengths {
		key := strconv.Itoa(L)
		if len(r.PerMaxLength[key]) != n || len(r.PreTextPerMaxLength[key]) != n {
			t.Fatalf("%s: max_length %d has %d raw and %d pre_text encodings for %d captions", m.JSON, L, len(r.PerMaxLength[key]), len(r.PreTextPerMaxLength[key]), n)
		}
	}
	for _, per := range []map[string][]encodingRef{r.PerMaxLength, r.PreTextPerMaxLength} {
		for key := range per {
			if L, err := strconv.Atoi(key); err != nil || !slices.Contains(m.MaxLengths, L) {
				t.Fatalf("%s: encodings at max_length %q, which manifest max_lengths %v does not list", m.JSON, key, m.MaxLengths)
			}
		}
	}
	return m, r, NewTokenizer(v), dir
}

// TestSpecialTokensAreTheReferenceIDs: the five special tokens, their ids and the no-split set.
func TestSpecialTokensAreTheReferenceIDs(t *testing.T) {
	_, r, tok, _ := loadRefs(t)
	if len(r.SpecialTokens) != len(r.SpecialTokenIDs) {
		t.Fatalf("%d special tokens, %d ids", len(r.SpecialTokens), len(r.SpecialTokenIDs))
	}
	for i, s := range r.SpecialTokens {
		if id, ok := tok.Vocab().ID(s); !ok || id != r.SpecialTokenIDs[i] {
			t.Errorf("%s: id %d (found %v), reference %d", s, id, ok, r.SpecialTokenIDs[i])
		}
	}
	var ours []string
	for _, s := range tok.specials {
		ours = append(ours, s.tok)
	}
	sort.Strings(ours)
	want := slices.Clone(r.UniqueNoSplit)
	sort.Strings(want)
	if !slices.Equal(ours, want) {
		t.Errorf("no-split tokens %v, reference %v", ours, want)
	}
}

// TestPreTextMatchesOfficial: PreText gives the official pre_text output for every caption.
func TestPreTextMatchesOfficial(t *testing.T) {
	_, r, _, _ := loadRefs(t)
	for i, c := range r.Captions {
		if got := PreText(c, 0); got != r.PreTextCaptions[i] {
			t.Errorf("caption %d %q:\n got %q\nwant %q", i, c, got, r.PreTextCaptions[i])
		}
	}
}

// TestWordpiecesMatchOfficial: the untruncated wordpieces and their ids, caption by caption.
func TestWordpiecesMatchOfficial(t *testing.T) {
	_, r, tok, _ := loadRefs(t)
	for i, c := range r.Captions {
		want := r.Untruncated[i]
		if got := tok.Wordpieces(c); !slices.Equal(got, want.Wordpieces) {
			t.Errorf("caption %d %q:\n got %q\nwant %q", i, c, got, want.Wordpieces)
		}
		if got := tok.IDs(c); !slices.Equal(got, want.IDs) {
			t.Errorf("caption %d %q: ids\n got %v\nwant %v", i, c, got, want.IDs)
		}
	}
}

// TestEncodeMatchesOfficialAtEveryMaxLength: ids, masks and the tokens they spell, for the raw
// and the pre_text captions at each max_length of the set.
func TestEncodeMatchesOfficialAtEveryMaxLength(t *testing.T) {
	m, r, tok, _ := loadRefs(t)
	for _, L := range m.MaxLengths {
		key := strconv.Itoa(L)
		for _, set := range []struct {
			name     string
			captions []string
			refs     []encodingRef
		}{{"raw", r.Captions, r.PerMaxLength[key]}, {"pre_text", r.PreTextCaptions, r.PreTextPerMaxLength[key]}} {
			for i, c := range set.captions {
				want := set.refs[i]
				ids, mask := tok.Encode(c, L)
				if !slices.Equal(ids, want.InputIDs) || !slices.Equal(mask, want.AttentionMask) {
					t.Errorf("%s caption %d %q at max_length %d:\n ids  %v\n want %v\n mask %v\n want %v", set.name, i, c, L, ids, want.InputIDs, mask, want.AttentionMask)
				}
				if want.Tokens != nil {
					for j, id := range ids {
						if j < len(want.Tokens) && tok.Vocab().Token(id) != want.Tokens[j] {
							t.Errorf("%s caption %d position %d: token %q, reference %q", set.name, i, j, tok.Vocab().Token(id), want.Tokens[j])
						}
					}
				}
			}
		}
	}
}

// TestEncodeMatchesReferenceTensors: the safetensors copy of the references (I64 [N, L]) holds
// the same ids and masks the encoder writes, for every tensor of the form
// [pre_text.]max_len_L.{input_ids,attention_mask}.
func TestEncodeMatchesReferenceTensors(t *testing.T) {
	m, r, tok, dir := loadRefs(t)
	name := m.JSON[:len(m.JSON)-len(filepath.Ext(m.JSON))] + ".safetensors"
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%v (the set's tensors sit next to %s)", err, m.JSON)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checked := 0
	for _, L := range m.MaxLengths {
		for _, pre := range []bool{false, true} {
			prefix, caps := "", r.Captions
			if pre {
				prefix, caps = "pre_text.", r.PreTextCaptions
			}
			for _, field := range []string{"input_ids", "attention_mask"} {
				tn := fmt.Sprintf("%smax_len_%d.%s", prefix, L, field)
				tv, ok := st.Tensor(tn)
				if !ok {
					t.Fatalf("%s has no tensor %s", name, tn)
				}
				if tv.DType() != safetensors.I64 || !slices.Equal(tv.Shape(), []uint64{uint64(len(caps)), uint64(L)}) {
					t.Fatalf("%s: %v %v, want I64 [%d %d]", tn, tv.DType(), tv.Shape(), len(caps), L)
				}
				b := tv.Data()
				for i, c := range caps {
					ids, mask := tok.Encode(c, L)
					for j := 0; j < L; j++ {
						ref := int64(binary.LittleEndian.Uint64(b[8*(i*L+j):]))
						got := int64(ids[j])
						if field == "attention_mask" {
							got = int64(mask[j])
						}
						if got != ref {
							t.Errorf("%s[%d][%d] = %d, encoder %d (caption %q)", tn, i, j, ref, got, c)
						}
					}
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no tensors checked")
	}
}

// TestUnhandledReferenceSetFailsClearly: a set whose tokenizer section has an option this code
// does not reproduce, or that lacks the section, fails the reference tests with the reason.
func TestUnhandledReferenceSetFailsClearly(t *testing.T) {
	src := testenv.RefData(t)
	raw, err := os.ReadFile(filepath.Join(src, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	tokSec, _ := man["tokenizer"].(map[string]any)
	if tokSec == nil {
		t.Fatal("reference manifest has no tokenizer section")
	}
	write := func(edit func(m map[string]any)) string {
		dir := t.TempDir()
		m := map[string]any{}
		for k, v := range man {
			m[k] = v
		}
		sec := map[string]any{}
		for k, v := range tokSec {
			sec[k] = v
		}
		m["tokenizer"] = sec
		edit(m)
		b, _ := json.Marshal(m)
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	pattern := "^(TestPreTextMatchesOfficial|TestEncodeMatchesOfficialAtEveryMaxLength)$"
	testenv.RunParity(t, write(func(m map[string]any) { m["tokenizer"].(map[string]any)["do_lower_case"] = false }),
		pattern, `unknown field "do_lower_case"`)
	testenv.RunParity(t, write(func(m map[string]any) { delete(m, "tokenizer") }), pattern, `no "tokenizer" section`)
}
