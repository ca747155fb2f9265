package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
		s, err := jsonString(v)
		if err != nil {
			e.err = "caption must be a string (prep stores one caption per clip; write one entry per caption): " + err.Error()
			return e
		}
		e.caption = s
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

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

func jsonString(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("got %s", clip(string(v)))
	}
	return s, nil
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
