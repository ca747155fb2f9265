package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/umt-dev/umt/transforms/storage"
)

// Format names a manifest format.
type Format string

// Manifest formats.
const (
	JSON    Format = "json"    // UMT annotation list
	JSONL   Format = "jsonl"   // one object per line
	CSV     Format = "csv"     // path,label or a header line
	Parquet Format = "parquet" // columns uri, caption, label, start, end
)

// Formats lists the accepted formats.
var Formats = []Format{JSON, JSONL, CSV, Parquet}

// DetectFormat guesses the format from a manifest's name.
func DetectFormat(uri string) (Format, error) {
	name := strings.ToLower(uri)
	if i := strings.IndexAny(name, "?#"); i >= 0 && HasScheme(name) {
		name = name[:i]
	}
	switch path.Ext(name) {
	case ".json":
		return JSON, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	case ".csv", ".txt", ".tsv":
		return CSV, nil
	case ".parquet", ".pq":
		return Parquet, nil
	}
	return "", fmt.Errorf("cannot tell the manifest format from the name %q; name it .json, .jsonl, .csv or .parquet, or pass the format explicitly", uri)
}

// ParseFormat checks a format name given by a user.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown manifest format %q; use one of json, jsonl, csv, parquet", s)
}

// Options configure Read and Decode.
type Options struct {
	Format Format // "" = DetectFormat of the manifest name
	// Root is joined with relative video paths; "" means the manifest's own directory.
	Root string
	// Sep is the CSV field separator; 0 means ',' (',' and ' ' are common, see UMT.md §3.5),
	// and '\t' for a .tsv name.
	Sep rune
	// Storage sets the deadlines and retries of reading a remote manifest (zero: defaults).
	Storage storage.Options
}

// Read opens the manifest at uri and calls fn for each row in order. It stops at the first
// error fn returns, and returns an error only when the manifest cannot be read as a whole.
func Read(ctx context.Context, uri string, opt Options, fn func(Row) error) error {
	if opt.Format == "" {
		f, err := DetectFormat(uri)
		if err != nil {
			return err
		}
		opt.Format = f
	}
	if opt.Sep == 0 && strings.HasSuffix(strings.ToLower(uri), ".tsv") {
		opt.Sep = '\t'
	}
	if opt.Root == "" {
		opt.Root = Dir(uri)
	}
	// storage.Open reads local, file://, gs:// and http(s) manifests with retries and
	// deadlines; a Parquet manifest is read by ranges, the text formats in order.
	r, err := storage.Open(ctx, uri, opt.Storage)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", uri, err)
	}
	defer r.Close()
	if err := Decode(ctx, io.NewSectionReader(r, 0, r.Size()), opt, fn); err != nil {
		return fmt.Errorf("manifest %s: %w", uri, err)
	}
	return nil
}

// Decode parses a manifest from r (opt.Format must be set) and calls fn for each row.
func Decode(ctx context.Context, r io.Reader, opt Options, fn func(Row) error) error {
	res := &resolver{root: opt.Root}
	sep := opt.Sep
	if sep == 0 {
		sep = ','
	}
	emit := func(row Row) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(row)
	}
	switch opt.Format {
	case JSON:
		return decodeJSONList(r, res, emit)
	case JSONL:
		return decodeJSONL(r, res, emit)
	case CSV:
		return decodeCSV(r, sep, res, emit)
	case Parquet:
		return decodeParquet(ctx, r, res, emit)
	case "":
		return errors.New("no manifest format given")
	}
	return fmt.Errorf("unknown manifest format %q; use one of json, jsonl, csv, parquet", opt.Format)
}

// ReadAll reads every row into memory; for tests and small manifests.
func ReadAll(ctx context.Context, uri string, opt Options) ([]Row, error) {
	var rows []Row
	err := Read(ctx, uri, opt, func(r Row) error { rows = append(rows, r); return nil })
	return rows, err
}
