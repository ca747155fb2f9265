package manifest

import (
	"fmt"
	"math"
	"path"
	"path/filepath"
	"strings"
)

// Row is one manifest entry, with its path resolved against the root.
type Row struct {
	// Index is the 0-based position of the entry among the manifest's entries (a CSV header and
	// blank lines are not entries). It orders the dataset and names the row in error messages.
	Index int64 `json:"index"`
	// URI is the resolved location of the video: an absolute local path, gs://… or http(s)://….
	URI     string `json:"uri"`
	Caption string `json:"caption,omitempty"` // empty when the manifest has none
	Label   string `json:"label,omitempty"`   // empty when the manifest has none; numbers become their decimal text
	// Start and End restrict sampling to [Start, End] seconds of the video; End 0 means "to the end".
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`
	// Image marks an "image" entry of a UMT JSON list: it is decoded as a 1-frame clip.
	Image bool `json:"image,omitempty"`
	// Err says why the entry is malformed (and where); the row then goes to the failures table
	// with class ErrClass instead of being decoded. Empty for a usable row.
	Err string `json:"err,omitempty"`
}

// ErrClass is the failure class of malformed manifest rows.
const ErrClass = "manifest"

// entry is what a format parser extracts from one manifest entry before validation.
type entry struct {
	where          string // "line 3", "entry 7": for messages
	uri            string
	caption, label string
	start, end     float64
	image          bool
	err            string // a parse problem already found
}

// resolver turns entries into rows.
type resolver struct {
	root  string
	index int64
}

// row validates e and resolves its path; problems become Row.Err.
func (r *resolver) row(e entry) Row {
	row := Row{Index: r.index, Caption: e.caption, Label: e.label, Start: e.start, End: e.end, Image: e.image}
	r.index++
	bad := func(format string, a ...any) Row {
		row.Err = e.where + ": " + fmt.Sprintf(format, a...)
		return row
	}
	switch {
	case e.err != "":
		return bad("%s", e.err)
	case strings.TrimSpace(e.uri) == "":
		return bad("no video path (give uri, path, video or image)")
	case strings.ContainsRune(e.uri, 0):
		return bad("the path contains a NUL byte")
	case math.IsNaN(e.start) || math.IsInf(e.start, 0) || e.start < 0:
		return bad("start %v is not a time ≥ 0 in seconds", e.start)
	case math.IsNaN(e.end) || math.IsInf(e.end, 0) || e.end < 0:
		return bad("end %v is not a time ≥ 0 in seconds", e.end)
	case e.end != 0 && e.end <= e.start:
		return bad("end %v is not after start %v; use end 0 (or leave it out) for \"to the end\"", e.end, e.start)
	}
	row.URI = Resolve(r.root, strings.TrimSpace(e.uri))
	return row
}

// HasScheme reports whether p is a URL with a scheme we read (gs, http, https, file).
func HasScheme(p string) bool {
	for _, s := range []string{"gs://", "http://", "https://", "file://"} {
		if len(p) >= len(s) && strings.EqualFold(p[:len(s)], s) {
			return true
		}
	}
	return false
}

// Resolve joins a manifest path with root: URLs and absolute local paths are kept (file:// is
// turned into a path); relative paths are joined with root, with "/" under a URL root and the
// local separator otherwise.
func Resolve(root, p string) string {
	if strings.HasPrefix(strings.ToLower(p), "file://") {
		return filepath.Clean(p[len("file://"):])
	}
	if HasScheme(p) {
		return p
	}
	if filepath.IsAbs(p) || root == "" {
		return filepath.Clean(p)
	}
	if HasScheme(root) {
		scheme := root[:strings.Index(root, "://")+3]
		rest := strings.TrimSuffix(root[len(scheme):], "/")
		return scheme + path.Clean(rest+"/"+filepath.ToSlash(p))
	}
	return filepath.Join(root, p)
}

// Dir returns the directory part of a manifest location (local path or URL), the default root.
func Dir(uri string) string {
	if HasScheme(uri) && !strings.HasPrefix(strings.ToLower(uri), "file://") {
		i := strings.LastIndex(uri, "/")
		if i < len("gs://") || i <= strings.Index(uri, "://")+2 {
			return uri
		}
		return uri[:i]
	}
	if strings.HasPrefix(strings.ToLower(uri), "file://") {
		uri = uri[len("file://"):]
	}
	if abs, err := filepath.Abs(uri); err == nil {
		uri = abs
	}
	return filepath.Dir(uri)
}
