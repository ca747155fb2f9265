package manifest

import (
	"fmt"
	"math"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Row is one manifest entry, with its path resolved against the root.
type Row struct {
	// Index is the 0-based position of the entry among the manifest's entries (a CSV header and
	// blank lines are not entries). It orders the dataset and names the row in error messages.
	Index int64 `json:"index"`
	// URI is the resolved location of the video: an absolute local path, gs://… or http(s)://….
	URI     string `json:"uri"`
	Caption string `json:"caption,omitempty"` // empty when the manifest has none
	// ExtraCaptions are the clip's further captions when the manifest gives a caption list
	// (UMT JSON and JSONL: "caption": ["a", "b"]); Caption is the first.
	ExtraCaptions []string `json:"extra_captions,omitempty"`
	Label         string   `json:"label,omitempty"` // empty when the manifest has none; numbers become their decimal text
	// Start and End restrict sampling to [Start, End] seconds of the video; End 0 means "to the end".
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`
	// Image marks an "image" entry of a UMT JSON list: it is decoded as a 1-frame clip.
	Image bool `json:"image,omitempty"`
	// Err says why the entry is malformed (and where); the row then goes to the failures table
	// with class schemas.ClassManifest instead of being decoded. Empty for a usable row.
	Err string `json:"err,omitempty"`
	// TextReplaced counts the bytes of Caption and Label that were not UTF-8 and became U+FFFD;
	// BadText then says where and quotes the original text (foreign bytes as \xNN).
	TextReplaced int    `json:"text_replaced,omitempty"`
	BadText      string `json:"bad_text,omitempty"`
}

// entry is what a format parser extracts from one manifest entry before validation.
type entry struct {
	where          string // "line 3", "entry 7": for messages
	uri            string
	caption, label string
	extraCaptions  []string // captions after the first (a caption list)
	start, end     float64
	image          bool
	err            string // a parse problem already found
}

// resolver turns entries into rows.
type resolver struct {
	root  string
	index int64
}

// row validates e and resolves its path; problems become Row.Err. Every string of the row is
// valid UTF-8 (see text.go).
func (r *resolver) row(e entry) Row {
	row := Row{Index: r.index, Caption: e.caption, ExtraCaptions: e.extraCaptions, Label: e.label, Start: e.start, End: e.end, Image: e.image}
	r.index++
	cleanText(&row, e.where)
	bad := func(format string, a ...any) Row {
		row.Err = EscapeInvalid(e.where + ": " + fmt.Sprintf(format, a...))
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
	uri, err := resolve(r.root, strings.TrimSpace(e.uri))
	if err != nil {
		return bad("%v", err)
	}
	row.URI = uri
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

// Resolve joins a manifest path with root: URLs and absolute local paths are kept (a file://
// URI is decoded into its path); relative paths are joined with root, with "/" under a URL root
// and the local separator otherwise. The result is valid UTF-8: a local path that is not
// becomes its percent-encoded file:// URI (FileURI), the bytes of an http(s) URL that are not
// get percent-encoded. It fails for a file:// URI it cannot decode and a gs:// name that is
// not UTF-8 (GCS object names are UTF-8, so none can match).
func Resolve(root, p string) (string, error) {
	return resolve(root, p)
}

func resolve(root, p string) (string, error) {
	if isFileURI(root) {
		r, err := fileURIPath(root)
		if err != nil {
			return "", fmt.Errorf("root: %w", err)
		}
		root = r
	}
	if isFileURI(p) {
		fp, err := fileURIPath(p)
		if err != nil {
			return "", err
		}
		return localURI(filepath.Clean(fp)), nil
	}
	if HasScheme(p) {
		return remoteURI(p)
	}
	if filepath.IsAbs(p) || root == "" {
		return localURI(filepath.Clean(p)), nil
	}
	if HasScheme(root) {
		scheme := root[:strings.Index(root, "://")+3]
		rest := strings.TrimSuffix(root[len(scheme):], "/")
		return remoteURI(scheme + path.Clean(rest+"/"+filepath.ToSlash(p)))
	}
	return localURI(filepath.Join(root, p)), nil
}

func isFileURI(p string) bool { return strings.HasPrefix(strings.ToLower(p), "file://") }

// localURI names a local path: the path itself when it is UTF-8, else its file:// URI. A
// relative path that is not UTF-8 (no root given) is made absolute first.
func localURI(p string) string {
	if utf8.ValidString(p) {
		return p
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return FileURI(p)
}

// remoteURI checks a gs:// or http(s) URL for bytes that are not UTF-8.
func remoteURI(u string) (string, error) {
	if utf8.ValidString(u) {
		return u, nil
	}
	if strings.HasPrefix(strings.ToLower(u), "gs://") {
		return "", fmt.Errorf("%q is not UTF-8, and GCS object names are; fix the manifest's encoding", u)
	}
	return escapeURLBytes(u), nil
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
	if isFileURI(uri) {
		if p, err := fileURIPath(uri); err == nil {
			uri = p
		}
	}
	if abs, err := filepath.Abs(uri); err == nil {
		uri = abs
	}
	return filepath.Dir(uri)
}
