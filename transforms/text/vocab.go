package text

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/umt-dev/umt/transforms/storage"
)

// The special tokens of the uncased BERT tokenizer, by the names the official code gives them.
const (
	PadToken  = "[PAD]"
	UnkToken  = "[UNK]"
	ClsToken  = "[CLS]"
	SepToken  = "[SEP]"
	MaskToken = "[MASK]"
)

// MaxVocabBytes bounds the vocab file read into memory (bert-base-uncased's is 226 KiB).
const MaxVocabBytes = 64 << 20

// Vocab is a WordPiece vocabulary: token i is line i of vocab.txt.
type Vocab struct {
	tokens []string
	ids    map[string]int32
	sha    string
	raw    []byte // the file, for carrying it to workers (Bytes)
	maxKey int    // the longest token, in bytes

	// Special token ids.
	Pad, Unk, Cls, Sep, Mask int32
}

// Hub fetches files of a Hugging Face model repository into a local cache and returns the
// directory holding them; models/weights.Hub is the implementation.
type Hub interface {
	Fetch(ctx context.Context, repo string, files ...string) (string, error)
}

// VocabOptions complete LoadVocab.
type VocabOptions struct {
	// Hub resolves hf:NAME specs; without one such a spec is an error.
	Hub Hub
	// Storage configures remote reads (deadlines, retries).
	Storage storage.Options
}

// legacyNames maps the hub's old un-namespaced BERT names to their current repositories.
var legacyNames = map[string]string{
	"bert-base-uncased":  "google-bert/bert-base-uncased",
	"bert-large-uncased": "google-bert/bert-large-uncased",
}

// LoadVocab reads a vocabulary named by spec: a vocab.txt path, a Hugging Face model directory
// holding vocab.txt, any URI transforms/storage opens (gs://, http(s)://, file://), or
// hf:owner/name (hf:bert-base-uncased and hf:bert-large-uncased name google-bert's
// repositories), fetched through opts' Hub.
func LoadVocab(ctx context.Context, spec string, opts ...VocabOptions) (*Vocab, error) {
	var o VocabOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	uri := spec
	if name, ok := strings.CutPrefix(spec, "hf:"); ok {
		if o.Hub == nil {
			return nil, fmt.Errorf("tokenizer %s: no hub to fetch it from (pass VocabOptions.Hub, e.g. a models/weights.Hub)", spec)
		}
		if full, ok := legacyNames[name]; ok {
			name = full
		}
		dir, err := o.Hub.Fetch(ctx, name, "vocab.txt")
		if err != nil {
			return nil, fmt.Errorf("tokenizer %s: %w", spec, err)
		}
		uri = filepath.Join(dir, "vocab.txt")
	} else if p, err := storage.LocalPath(spec); err == nil {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			uri = filepath.Join(p, "vocab.txt")
		}
	}
	data, err := readAll(ctx, uri, o.Storage)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %q: %w (want hf:owner/name, a Hugging Face model directory holding vocab.txt, or a vocab.txt path or URI)", spec, err)
	}
	v, err := ParseVocab(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", uri, err)
	}
	return v, nil
}

// readAll reads a whole file of at most MaxVocabBytes.
func readAll(ctx context.Context, uri string, o storage.Options) ([]byte, error) {
	r, err := storage.Open(ctx, uri, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Size() > MaxVocabBytes {
		return nil, fmt.Errorf("%d bytes is more than a vocab file holds (limit %d)", r.Size(), MaxVocabBytes)
	}
	data := make([]byte, r.Size())
	if _, err := r.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return data, nil
}

// ParseVocab reads vocab.txt bytes as the official load_vocab does: UTF-8 text split into lines
// at \n, \r\n or \r (Python's universal newlines), token i = line i with its line break removed,
// a final line break ending the last token rather than starting an empty one. A token listed
// twice maps to its last line. It fails on invalid UTF-8 and when a special token is missing.
func ParseVocab(data []byte) (*Vocab, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("vocab is not UTF-8 text")
	}
	sum := sha256.Sum256(data)
	v := &Vocab{sha: hex.EncodeToString(sum[:]), raw: data}
	text := string(data)
	for len(text) > 0 {
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			v.tokens = append(v.tokens, text)
			break
		}
		v.tokens = append(v.tokens, text[:i])
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
	if len(v.tokens) > 1<<31-1 {
		return nil, fmt.Errorf("vocab has %d tokens, more than int32 ids hold", len(v.tokens))
	}
	v.ids = make(map[string]int32, len(v.tokens))
	for i, t := range v.tokens {
		v.ids[t] = int32(i)
		v.maxKey = max(v.maxKey, len(t))
	}
	var missing []string
	for _, s := range []struct {
		name string
		id   *int32
	}{{PadToken, &v.Pad}, {UnkToken, &v.Unk}, {ClsToken, &v.Cls}, {SepToken, &v.Sep}, {MaskToken, &v.Mask}} {
		id, ok := v.ids[s.name]
		if !ok {
			missing = append(missing, s.name)
		}
		*s.id = id
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("vocab of %d tokens lacks the special token(s) %s a BERT vocab.txt holds on lines of their own", len(v.tokens), strings.Join(missing, " "))
	}
	return v, nil
}

// Bytes is the vocab file as read (ParseVocab of it gives the same vocabulary). Do not modify.
func (v *Vocab) Bytes() []byte { return v.raw }

// SHA256 is the hex sha256 of the vocab file's bytes.
func (v *Vocab) SHA256() string { return v.sha }

// Size is the number of ids (lines of the file); every id is in [0, Size()).
func (v *Vocab) Size() int { return len(v.tokens) }

// ID returns the id of token.
func (v *Vocab) ID(token string) (int32, bool) {
	id, ok := v.ids[token]
	return id, ok
}

// Token returns the token with the given id, "" when id is out of range.
func (v *Vocab) Token(id int32) string {
	if id < 0 || int(id) >= len(v.tokens) {
		return ""
	}
	return v.tokens[id]
}
