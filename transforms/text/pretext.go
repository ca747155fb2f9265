package text

import (
	"strings"
	"unicode/utf8"
)

// PreText is the official caption cleaning (dataset/utils.py pre_text): Python's lower() of the
// whole string (final capital sigma → ς), every one of , . ' ! ? " ( ) * # : ; ~ deleted, '-'
// and '/' replaced by a space, "<person>" by "person", each run of two or more whitespace
// characters (Python's \s) replaced by one space, trailing newlines then leading and trailing
// spaces stripped. With maxWords > 0 the result is cut to its first maxWords words, words being
// what splitting on single spaces gives (the official max_l); maxWords <= 0 keeps every word
// (the official code treats None and 0 so; it is never given a negative max_l).
// Bytes that are not UTF-8 pass through unchanged.
func PreText(s string, maxWords int) string {
	low := pyLower(s)
	var b strings.Builder
	b.Grow(len(low))
	for i := 0; i < len(low); i++ {
		switch c := low[i]; c {
		case ',', '.', '\'', '!', '?', '"', '(', ')', '*', '#', ':', ';', '~':
		case '-', '/':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	t := strings.ReplaceAll(b.String(), "<person>", "person")
	t = collapseSpaces(t)
	t = strings.Trim(strings.TrimRight(t, "\n"), " ")
	if maxWords > 0 {
		t = firstWords(t, maxWords)
	}
	return t
}

// collapseSpaces replaces every run of two or more Python whitespace characters by one space;
// a single whitespace character (a lone tab, say) stays as it is.
func collapseSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if n == 1 && r == utf8.RuneError || !isPySpace(r) {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		j, runes := i, 0
		for j < len(s) {
			r2, n2 := utf8.DecodeRuneInString(s[j:])
			if n2 == 1 && r2 == utf8.RuneError || !isPySpace(r2) {
				break
			}
			j += n2
			runes++
		}
		if runes >= 2 {
			b.WriteByte(' ')
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// firstWords keeps the first n of the words split on single spaces.
func firstWords(s string, n int) string {
	end := 0
	for w := 0; w < n; w++ {
		k := strings.IndexByte(s[end:], ' ')
		if k < 0 {
			return s
		}
		if w == n-1 {
			return s[:end+k]
		}
		end += k + 1
	}
	return s
}

// pyLower is Python's str.lower(): the per-character mapping of lowerRune, except that a capital
// sigma becomes final ς when a cased letter precedes it and none follows it (case-ignorable
// characters skipped on both sides), as Unicode's Final_Sigma condition says.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case n == 1 && r == utf8.RuneError:
			b.WriteByte(s[i])
		case r == 0x3A3 && finalSigma(s, i, i+n):
			b.WriteRune(0x3C2)
		default:
			lo, extra := lowerRune(r)
			b.WriteRune(lo)
			if extra >= 0 {
				b.WriteRune(extra)
			}
		}
		i += n
	}
	return b.String()
}

// finalSigma reports whether the sigma at s[at:end] is in the Final_Sigma context.
func finalSigma(s string, at, end int) bool {
	before := false
	for j := at; j > 0; {
		r, n := utf8.DecodeLastRuneInString(s[:j])
		j -= n
		if !isCaseIgnorable(r) {
			before = isCased(r)
			break
		}
	}
	if !before {
		return false
	}
	for j := end; j < len(s); {
		r, n := utf8.DecodeRuneInString(s[j:])
		j += n
		if !isCaseIgnorable(r) {
			return !isCased(r)
		}
	}
	return true
}
