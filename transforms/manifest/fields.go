package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Column names accepted for the video path, in every format that names its fields.
var uriNames = []string{"uri", "path", "video", "image"}

// objectEntry reads one JSON object (a UMT JSON list element or a JSONL line).
func objectEntry(where string, raw []byte) entry {
	e := entry{where: where}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		e.err = "not a JSON object: " + shortErr(err)
		return e
	}
	var found []string
	for _, k := range uriNames {
		v, ok := obj[k]
		if !ok || isNull(v) {
			continue
		}
		found = append(found, k)
		s, err := jsonString(v)
		if err != nil {
			e.err = fmt.Sprintf("%q must be a string path: %v", k, err)
			return e
		}
		e.uri = s
		e.image = k == "image"
	}
	if len(found) > 1 {
		e.err = fmt.Sprintf("give one of uri, path, video, image; found %s", strings.Join(found, ", "))
		return e
	}
	if v, ok := obj["caption"]; ok && !isNull(v) {
		caps, err := jsonCaptions(v)
		if err != nil {
			e.err = "caption must be a string or a list of strings (all the captions of one clip): " + err.Error()
			return e
		}
		if len(caps) > 0 {
			e.caption = caps[0]
		}
		if len(caps) > 1 {
			e.extraCaptions = caps[1:]
		}
	}
	if v, ok := obj["label"]; ok && !isNull(v) {
		s, err := jsonScalar(v)
		if err != nil {
			e.err = "label must be a string or a number: " + err.Error()
			return e
		}
		e.label = s
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"start", &e.start}, {"end", &e.end}} {
		v, ok := obj[f.name]
		if !ok || isNull(v) {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			e.err = fmt.Sprintf("%s must be a number of seconds, got %s", f.name, clip(string(v)))
			return e
		}
	}
	return e
}

// jsonCaptions reads a caption: a string, or a list of strings (MSR-VTT style: every caption of
// one clip). Empty captions are dropped; an empty list is no caption.
func jsonCaptions(v json.RawMessage) ([]string, error) {
	t := bytes.TrimSpace(v)
	if len(t) == 0 || t[0] != '[' {
		s, err := jsonString(v)
		if err != nil || s == "" {
			return nil, err
		}
		return []string{s}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(t, &items); err != nil {
		return nil, err
	}
	var caps []string
	for i, it := range items {
		s, err := jsonString(it)
		if err != nil {
			return nil, fmt.Errorf("item %d: %v", i, err)
		}
		if s != "" {
			caps = append(caps, s)
		}
	}
	return caps, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// jsonString decodes a JSON string keeping its bytes: encoding/json would turn bytes that are
// not UTF-8 into U+FFFD, losing a file name's bytes and hiding the replacements from the count.
func jsonString(v json.RawMessage) (string, error) {
	if s, ok := unquoteJSON(bytes.TrimSpace(v)); ok {
		return s, nil
	}
	return "", fmt.Errorf("got %s", clip(string(v)))
}

// unquoteJSON decodes a JSON string literal byte for byte. Raw bytes that are not UTF-8 are
// kept, and so is the escape \udc80…\udcff of a lone low surrogate, which becomes the byte
// 0x80…0xff: that is how Python writes a file name that is not UTF-8 (os.fsdecode's
// surrogateescape) with json.dumps. Other lone surrogates become U+FFFD, as in encoding/json.
func unquoteJSON(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	v = v[1 : len(v)-1]
	if bytes.IndexByte(v, '\\') < 0 && bytes.IndexByte(v, '"') < 0 {
		return string(v), true
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			continue
		}
		i++
		if i == len(v) {
			return "", false
		}
		switch v[i] {
		case '"', '\\', '/':
			out = append(out, v[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(v[i+1:])
			if !ok {
				return "", false
			}
			i += 4
			if r >= 0xd800 && r < 0xdc00 && i+6 < len(v) && v[i+1] == '\\' && v[i+2] == 'u' { // a pair?
				if lo, ok := hex4(v[i+3:]); ok {
					if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						i += 6
						continue
					}
				}
			}
			switch {
			case r >= 0xdc80 && r <= 0xdcff:
				out = append(out, byte(r-0xdc00))
			case utf16.IsSurrogate(r):
				out = utf8.AppendRune(out, utf8.RuneError)
			default:
				out = utf8.AppendRune(out, r)
			}
		default:
			return "", false
		}
	}
	return string(out), true
}

// hex4 reads the 4 hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}

// jsonScalar returns a string as is and a number as its literal text.
func jsonScalar(v json.RawMessage) (string, error) {
	if s, err := jsonString(v); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return "", fmt.Errorf("got %s", clip(string(v)))
	}
	return n.String(), nil
}

// parseSeconds reads a CSV time field; empty means 0.
func parseSeconds(name, s string) (float64, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, ""
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Sprintf("%s must be a number of seconds, got %q", name, clip(s))
	}
	return f, ""
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func shortErr(err error) string { return clip(err.Error()) }
