package text

import (
	"slices"
	"testing"
)

// TestCaptionsAreEncodeIntoPerCaption: a clip's token rows are each caption's own encoding, in
// order, after PreText when asked.
func TestCaptionsAreEncodeIntoPerCaption(t *testing.T) {
	v, err := ParseVocab([]byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nman\ncooks\nsomeone\nis\ncook\n##ing\n"))
	if err != nil {
		t.Fatal(err)
	}
	tok := NewTokenizer(v)
	caps := []string{"A man cooks!", "someone is cooking"}
	for _, pre := range []bool{false, true} {
		ids, mask := tok.Captions(caps, 5, pre)
		for i, c := range caps {
			if pre {
				c = PreText(c, 0)
			}
			wi, wm := tok.Encode(c, 5)
			if !slices.Equal(ids[i*5:(i+1)*5], wi) || !slices.Equal(mask[i*5:(i+1)*5], wm) {
				t.Fatalf("pre_text %v caption %d: %v %v, want %v %v", pre, i, ids[i*5:(i+1)*5], mask[i*5:(i+1)*5], wi, wm)
			}
		}
	}
	if ids, mask := tok.Captions(nil, 5, true); ids != nil || mask != nil {
		t.Fatal("no captions must give nil")
	}
}
