package text

import "unicode"

// Character classes as the official tokenizer (transformers' _is_whitespace, _is_control,
// _is_punctuation and BertTokenizer's CJK test) and Python's str methods define them.

// isBertWhitespace: space, tab, newline, carriage return and category Zs; these become a space.
func isBertWhitespace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r)
}

// isBertControl: every category C character (Cc, Cf, Cs, Co and unassigned Cn) except tab,
// newline and carriage return; the basic tokenizer drops these.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if r < 0x80 {
		return r < 0x20 || r == 0x7f
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isBertPunct: the four ASCII symbol ranges (so $, +, <, ^, ` and friends count) plus category P.
func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// isCJK: the CJK Unified Ideographs blocks and compatibility ideographs BERT isolates.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// isPySpace is Python's str.isspace (and the \s of its str regexes): Unicode White_Space plus
// the information separators U+001C..U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1C && r <= 0x1F)
}

// isCased is Unicode's Cased property (Lowercase, Uppercase or Lt), as Python's final-sigma rule
// uses it.
func isCased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// isCaseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk, and the Word_Break
// classes MidLetter, MidNumLet and Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// lowerRune is Python's lower() of a one-character string: the simple lower-case mapping, except
// U+0130 (İ), whose full mapping is two characters; it returns the second one or -1.
func lowerRune(r rune) (rune, rune) {
	if r < 0x80 {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r, -1
	}
	if r == 0x130 {
		return 'i', 0x307
	}
	return unicode.ToLower(r), -1
}
