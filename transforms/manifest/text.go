package manifest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/umt-dev/umt/transforms/storage"
)

// Text that is not UTF-8: Beam's gRPC messages, Arrow string columns and the failures table all
// reject it, so every string a row carries is made valid here. Captions and labels get U+FFFD
// for each invalid byte (counted); paths keep every byte through a percent-encoded file:// URI;
// messages spell foreign bytes as \xNN.

// ReplaceInvalid returns s with each byte that is not part of a valid UTF-8 sequence replaced
// by U+FFFD, and how many bytes it replaced. Valid text is returned as is.
func ReplaceInvalid(s string) (string, int) {
	if utf8.ValidString(s) {
		return s, 0
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
			n++
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String(), n
}

// EscapeInvalid returns s with each byte that is not valid UTF-8 written as \xNN, as
// strconv.Quote does, and everything else (quotes, newlines, other scripts) kept: it makes an
// error message that may carry a path or manifest text safe to store and send.
func EscapeInvalid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// FileURI returns the file:// URI of an absolute local path with every byte outside the
// unreserved set percent-encoded, so a path that is not UTF-8 gets a valid, lossless name that
// opens the same file (transforms/storage decodes it). Rows use it only for such paths; a
// UTF-8 path stays a plain path, so existing clip ids do not change.
func FileURI(path string) string {
	return (&url.URL{Scheme: "file", Path: path}).String()
}

// fileURIPath decodes a file:///abs/path (or file://localhost/abs/path) URI into the exact
// bytes of its path (storage.LocalPath), which a manifest needs absolute.
func fileURIPath(uri string) (string, error) {
	p, err := storage.LocalPath(uri)
	if err != nil {
		return "", fmt.Errorf("%v (write %% as %%25)", err)
	}
	if p[0] != '/' {
		return "", fmt.Errorf("%q has no absolute path; write a local file as file:///absolute/path", uri)
	}
	return p, nil
}

// escapeURLBytes percent-encodes the bytes of a URL that are not valid UTF-8; valid text is
// kept as written (an HTTP client escapes it on the wire).
func escapeURLBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, "%%%02X", s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// quoteText quotes manifest text for a message, shortened, with foreign bytes as \xNN.
func quoteText(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}

// cleanText makes a row's caption and label valid UTF-8: it replaces invalid bytes with U+FFFD,
// adds their number to r.TextReplaced, and notes where they were in r.BadText.
func cleanText(r *Row, where string) {
	fields := []struct {
		name string
		s    *string
	}{{"caption", &r.Caption}, {"label", &r.Label}}
	for i := range r.ExtraCaptions {
		fields = append(fields, struct {
			name string
			s    *string
		}{"caption", &r.ExtraCaptions[i]})
	}
	for _, f := range fields {
		fixed, n := ReplaceInvalid(*f.s)
		if n == 0 {
			continue
		}
		if r.BadText != "" {
			r.BadText += "; "
		} else {
			r.BadText = where + ": "
		}
		r.BadText += fmt.Sprintf("%s %s has %d %s that %s not UTF-8", f.name, quoteText(*f.s), n, plural(n, "byte", "bytes"), plural(n, "is", "are"))
		*f.s = fixed
		r.TextReplaced += n
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// SafeMessage makes an error message about the entry at uri storable: the decoded path of a
// file:// URI (whose bytes need not be UTF-8) is named by the URI again, and any other foreign
// byte is written as \xNN.
func SafeMessage(uri, msg string) string {
	if p, err := storage.LocalPath(uri); err == nil && p != uri {
		msg = strings.ReplaceAll(msg, p, uri)
	}
	return EscapeInvalid(msg)
}
