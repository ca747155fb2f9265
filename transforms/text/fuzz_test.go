package text

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncode: for any caption and maxLen, EncodeInto never panics, ids[0] is [CLS], every id is
// in [0, vocab), the mask is 1…1 0…0 with [PAD] under every 0, and the ids are [CLS] + IDs(caption)
// cut to maxLen−1.
func FuzzEncode(f *testing.F) {
	tok := bertTokenizer(f)
	v := tok.Vocab()
	for _, s := range []string{"", "A man plays a guitar.", "x[MASK]y", "Café 中文 ΟΔΥΣ", "a\x00\u200b\xff", strings.Repeat("ab", 70)} {
		f.Add(s, uint8(32))
	}
	f.Fuzz(func(t *testing.T, caption string, n uint8) {
		L := int(n%80) + 1
		ids, mask := make([]int32, L), make([]uint8, L)
		tok.EncodeInto(ids, mask, caption)
		if ids[0] != v.Cls || mask[0] != 1 {
			t.Fatalf("first position: id %d mask %d", ids[0], mask[0])
		}
		real := 0
		for real < L && mask[real] == 1 {
			real++
		}
		for i := range ids {
			if ids[i] < 0 || int(ids[i]) >= v.Size() {
				t.Fatalf("id %d at %d out of [0, %d)", ids[i], i, v.Size())
			}
			if i >= real && (mask[i] != 0 || ids[i] != v.Pad) {
				t.Fatalf("after %d real tokens: position %d id %d mask %d", real, i, ids[i], mask[i])
			}
		}
		all := tok.IDs(caption)
		if want := all[:min(len(all), L-1)]; !slices.Equal(ids[1:real], want) {
			t.Fatalf("ids %v, want [CLS] + %v", ids, want)
		}
	})
}

// FuzzPreText: PreText never panics, removes every character pre_text deletes, leaves no run of
// whitespace, no surrounding spaces and at most maxWords words, and keeps valid UTF-8 valid.
func FuzzPreText(f *testing.F) {
	for _, s := range []string{"", "A man, a plan: a canal -- Panama!", "  <person> walks\t\tin/out \n", "ΟΔΥΣΣΕΥΣ. İstanbul", "a\u2028\u2029b"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, maxWords int) {
		out := PreText(s, maxWords)
		if strings.ContainsAny(out, ",.'!?\"()*#:;~-/") {
			t.Fatalf("%q → %q keeps a deleted character", s, out)
		}
		if strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") || strings.HasSuffix(out, "\n") {
			t.Fatalf("%q → %q has surrounding space", s, out)
		}
		prev := false
		for _, r := range out {
			sp := isPySpace(r)
			if sp && prev {
				t.Fatalf("%q → %q has a whitespace run", s, out)
			}
			prev = sp
		}
		if maxWords > 0 && strings.Count(out, " ") >= maxWords {
			t.Fatalf("%q → %q has more than %d words", s, out, maxWords)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("%q → %q is not UTF-8", s, out)
		}
	})
}

// FuzzParseVocab: ParseVocab never panics; a vocab it accepts maps each line's token back to an
// id holding that token, has the five specials, and survives a write/re-read round trip.
func FuzzParseVocab(f *testing.F) {
	f.Add([]byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n"))
	f.Add([]byte("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n[MASK]"))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVocab(data)
		if err != nil {
			return
		}
		var lines []string
		for i := 0; i < v.Size(); i++ {
			tokn := v.Token(int32(i))
			if id, ok := v.ID(tokn); !ok || v.Token(id) != tokn {
				t.Fatalf("token %q (line %d) maps to %d (%v)", tokn, i, id, ok)
			}
			lines = append(lines, tokn)
		}
		for _, s := range []string{PadToken, UnkToken, ClsToken, SepToken, MaskToken} {
			if _, ok := v.ID(s); !ok {
				t.Fatalf("accepted without %s", s)
			}
		}
		again, err := ParseVocab([]byte(strings.Join(lines, "\n") + "\n"))
		if err != nil || again.Size() != v.Size() {
			t.Fatalf("round trip: %v, %d vs %d tokens", err, again.Size(), v.Size())
		}
	})
}
