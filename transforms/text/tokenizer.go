package text

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxWordChars is the longest word (in characters) WordPiece splits; longer words are [UNK].
const MaxWordChars = 100

// Tokenizer is the uncased BERT WordPiece tokenizer over a Vocab (see the package comment). It
// holds no per-call state, so one Tokenizer serves any number of goroutines.
type Tokenizer struct {
	v        *Vocab
	specials [5]struct {
		tok string
		id  int32
	}
	scratch sync.Pool // *scratch
}

// scratch is the per-call working memory, reused through the pool.
type scratch struct {
	word  []byte    // the current whitespace-delimited word, lower-cased and cleaned
	nfd   []byte    // the word after NFD with marks dropped
	iter  norm.Iter // NFD iterator; kept here because norm's Append allocates per call
	piece []byte    // "##" + the punctuation-free piece being split
	split []int32   // the ids of the piece being split
	ids   []int32   // wordpiece ids, for callers without a destination
}

// NewTokenizer returns a tokenizer over v.
func NewTokenizer(v *Vocab) *Tokenizer {
	t := &Tokenizer{v: v}
	for i, s := range []string{ClsToken, SepToken, PadToken, UnkToken, MaskToken} {
		t.specials[i].tok = s
		t.specials[i].id, _ = v.ID(s)
	}
	t.scratch.New = func() any {
		return &scratch{word: make([]byte, 0, 256), nfd: make([]byte, 0, 256), piece: make([]byte, 0, 256)}
	}
	return t
}

// Vocab returns the tokenizer's vocabulary.
func (t *Tokenizer) Vocab() *Vocab { return t.v }

// EncodeInto writes the model input for caption into ids and mask (both of length maxLen): [CLS],
// then the caption's first maxLen−1 wordpieces, then [PAD] up to maxLen; mask is 1 on [CLS] and
// the wordpieces and 0 on the padding. There is no [SEP] (the official repository's quirk). It
// panics when the lengths differ, as a slice index would.
func (t *Tokenizer) EncodeInto(ids []int32, mask []uint8, caption string) {
	if len(ids) != len(mask) {
		panic(fmt.Sprintf("text: EncodeInto with %d ids and %d mask values; both must be maxLen long", len(ids), len(mask)))
	}
	if len(ids) == 0 {
		return
	}
	ids[0] = t.v.Cls
	sc := t.scratch.Get().(*scratch)
	n := 1 + len(t.appendIDs(ids[1:1], caption, len(ids)-1, sc))
	t.scratch.Put(sc)
	for i := range ids {
		if i < n {
			mask[i] = 1
		} else {
			ids[i], mask[i] = t.v.Pad, 0
		}
	}
}

// Encode returns EncodeInto's ids and mask in new slices of length maxLen.
func (t *Tokenizer) Encode(caption string, maxLen int) ([]int32, []uint8) {
	ids, mask := make([]int32, maxLen), make([]uint8, maxLen)
	t.EncodeInto(ids, mask, caption)
	return ids, mask
}

// IDs returns the ids of all of s's wordpieces, without [CLS] and untruncated.
func (t *Tokenizer) IDs(s string) []int32 {
	sc := t.scratch.Get().(*scratch)
	defer t.scratch.Put(sc)
	sc.ids = t.appendIDs(sc.ids[:0], s, -1, sc)
	return append([]int32(nil), sc.ids...)
}

// Wordpieces returns s's wordpieces as vocabulary strings ("##" on continuation pieces, [UNK]
// for unknown words, special tokens as written), without [CLS] and untruncated.
func (t *Tokenizer) Wordpieces(s string) []string {
	ids := t.IDs(s)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.v.Token(id)
	}
	return out
}

// appendIDs appends the wordpiece ids of s to dst, at most limit of them (limit < 0: all).
// Special tokens written in s are split off first and kept whole; the text between them goes
// through the basic tokenizer and WordPiece.
func (t *Tokenizer) appendIDs(dst []int32, s string, limit int, sc *scratch) []int32 {
	for len(s) > 0 && (limit < 0 || len(dst) < limit) {
		at, sp := t.nextSpecial(s)
		if at < 0 {
			return t.appendText(dst, s, limit, sc)
		}
		dst = t.appendText(dst, s[:at], limit, sc)
		if limit >= 0 && len(dst) >= limit {
			break
		}
		dst = append(dst, t.specials[sp].id)
		s = s[at+len(t.specials[sp].tok):]
	}
	return dst
}

// nextSpecial finds the first special token written in s: its byte offset and index, or -1.
func (t *Tokenizer) nextSpecial(s string) (int, int) {
	for from := 0; ; {
		i := strings.IndexByte(s[from:], '[')
		if i < 0 {
			return -1, -1
		}
		from += i
		for k := range t.specials {
			if strings.HasPrefix(s[from:], t.specials[k].tok) {
				return from, k
			}
		}
		from++
	}
}

// appendText runs the basic tokenizer over s (no special tokens in it) and WordPiece over each
// of its words.
func (t *Tokenizer) appendText(dst []int32, s string, limit int, sc *scratch) []int32 {
	word, ascii := sc.word[:0], true
	for i := 0; i < len(s) && (limit < 0 || len(dst) < limit); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				dst, word, ascii = t.appendWord(dst, word, ascii, limit, sc), word[:0], true
			case c < 0x20 || c == 0x7f: // control characters are dropped
			default:
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				word = append(word, c)
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		lo, extra := lowerRune(r)
		switch {
		case r == utf8.RuneError || isBertControl(lo):
		case isBertWhitespace(lo) || isPySpace(lo):
			dst, word, ascii = t.appendWord(dst, word, ascii, limit, sc), word[:0], true
		case isCJK(lo):
			dst, word, ascii = t.appendWord(dst, word, ascii, limit, sc), word[:0], true
			word = utf8.AppendRune(word, lo)
			dst, word = t.appendWord(dst, word, false, limit, sc), word[:0]
		default:
			word, ascii = utf8.AppendRune(word, lo), false
			if extra >= 0 {
				word = utf8.AppendRune(word, extra)
			}
		}
	}
	dst = t.appendWord(dst, word, ascii, limit, sc)
	sc.word = word[:0]
	return dst
}

// appendWord strips the accents of one whitespace-delimited word (NFD, marks of category Mn
// dropped), splits punctuation characters off as words of their own and appends the WordPiece
// ids of each resulting piece.
func (t *Tokenizer) appendWord(dst []int32, word []byte, ascii bool, limit int, sc *scratch) []int32 {
	if len(word) == 0 {
		return dst
	}
	if !ascii {
		out := sc.nfd[:0]
		sc.iter.Init(norm.NFD, word)
		for !sc.iter.Done() {
			seg := sc.iter.Next()
			for i := 0; i < len(seg); {
				r, n := utf8.DecodeRune(seg[i:])
				if !unicode.Is(unicode.Mn, r) {
					out = append(out, seg[i:i+n]...)
				}
				i += n
			}
		}
		sc.nfd = out
		word = out
	}
	start := 0
	for i := 0; i < len(word); {
		r, n := rune(word[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(word[i:])
		}
		if isBertPunct(r) {
			dst = t.appendPiece(dst, word[start:i], limit, sc)
			dst = t.appendPiece(dst, word[i:i+n], limit, sc)
			start = i + n
		}
		i += n
	}
	return t.appendPiece(dst, word[start:], limit, sc)
}

// appendPiece appends the greedy longest-match-first WordPiece split of one piece, or [UNK] when
// the piece is longer than MaxWordChars characters or some part of it matches no token.
func (t *Tokenizer) appendPiece(dst []int32, piece []byte, limit int, sc *scratch) []int32 {
	if len(piece) == 0 || (limit >= 0 && len(dst) >= limit) {
		return dst
	}
	if len(piece) > MaxWordChars && utf8.RuneCount(piece) > MaxWordChars {
		return append(dst, t.v.Unk)
	}
	// buf = "##" + piece. A continuation piece starting at byte s of the piece is looked up as
	// buf[s:2+e] after writing "##" over buf[s:s+2], bytes of the piece already consumed.
	buf := append(append(sc.piece[:0], '#', '#'), piece...)
	sc.piece = buf
	split := sc.split[:0]
	for s := 0; s < len(piece); {
		e := len(piece)
		prefix := 0
		if s > 0 {
			buf[s], buf[s+1] = '#', '#'
			prefix = 2
		}
		if e-s+prefix > t.v.maxKey { // no token is longer: start at the longest that could match
			e = s + t.v.maxKey - prefix
			for e > s && !utf8.RuneStart(piece[e]) {
				e--
			}
		}
		id, found := int32(0), false
		for e > s {
			if id, found = t.v.ids[string(buf[s+2-prefix:2+e])]; found {
				break
			}
			e--
			for e > s && !utf8.RuneStart(piece[e]) {
				e--
			}
		}
		if !found {
			split = append(split[:0], t.v.Unk)
			break
		}
		split = append(split, id)
		s = e
	}
	sc.split = split
	if limit >= 0 && len(dst)+len(split) > limit {
		split = split[:limit-len(dst)]
	}
	return append(dst, split...)
}
