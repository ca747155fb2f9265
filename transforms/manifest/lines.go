package manifest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one manifest line; a longer line becomes a malformed row, not a huge buffer.
const maxLine = 1 << 20

// eachLine calls fn with every line of r (without its line ending) and its 1-based number.
// A line over maxLine is passed as nil with tooLong set, and skipped.
func eachLine(r io.Reader, fn func(n int, line []byte, tooLong bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for n := 1; ; n++ {
		buf = buf[:0]
		tooLong := false
		for {
			chunk, err := br.ReadSlice('\n')
			if !tooLong {
				if len(buf)+len(chunk) > maxLine+1 {
					tooLong, buf = true, buf[:0]
				} else {
					buf = append(buf, chunk...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				if len(buf) == 0 && !tooLong {
					return nil
				}
				break
			}
			if err != nil {
				return fmt.Errorf("line %d: %v", n, err)
			}
			break
		}
		line := bytes.TrimRight(buf, "\r\n")
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 byte-order mark
		}
		if tooLong {
			line = nil
		}
		if err := fn(n, line, tooLong); err != nil {
			return err
		}
	}
}

// decodeJSONL reads one JSON object per line; blank lines are skipped.
func decodeJSONL(r io.Reader, res *resolver, fn func(Row) error) error {
	return eachLine(r, func(n int, line []byte, tooLong bool) error {
		where := fmt.Sprintf("line %d", n)
		if tooLong {
			return fn(res.row(entry{where: where, err: fmt.Sprintf("longer than %d bytes", maxLine)}))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		return fn(res.row(objectEntry(where, line)))
	})
}

// csvColumns maps header names to their column; -1 when absent.
type csvColumns struct{ uri, caption, label, start, end, image int }

// decodeCSV reads path,label lines (no header), or any column order under a header line that
// names uri/path/video/image and optionally caption, label, start, end (other columns are
// ignored). Without a header a path with no extension gets ".mp4", as UMT's stage-1 loader does.
func decodeCSV(r io.Reader, sep rune, res *resolver, fn func(Row) error) error {
	var cols *csvColumns
	first := true
	return eachLine(r, func(n int, line []byte, tooLong bool) error {
		where := fmt.Sprintf("line %d", n)
		if tooLong {
			first = false
			return fn(res.row(entry{where: where, err: fmt.Sprintf("longer than %d bytes", maxLine)}))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		cr := csv.NewReader(bytes.NewReader(line))
		cr.Comma = sep
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		rec, err := cr.Read()
		if err != nil {
			first = false
			return fn(res.row(entry{where: where, err: "not a CSV record: " + shortErr(err)}))
		}
		if first {
			first = false
			if c, ok := csvHeader(rec); ok {
				cols = c
				return nil
			}
		}
		if cols != nil {
			return fn(res.row(csvNamed(where, rec, cols)))
		}
		return fn(res.row(csvPlain(where, rec)))
	})
}

// csvHeader recognises a header line by a column named like a path.
func csvHeader(rec []string) (*csvColumns, bool) {
	c := &csvColumns{-1, -1, -1, -1, -1, -1}
	isHeader := false
	for i, f := range rec {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "uri", "path", "video":
			if c.uri < 0 {
				c.uri, isHeader = i, true
			}
		case "image":
			if c.uri < 0 {
				c.uri, c.image, isHeader = i, i, true
			}
		case "caption":
			c.caption = i
		case "label":
			c.label = i
		case "start":
			c.start = i
		case "end":
			c.end = i
		}
	}
	return c, isHeader
}

func csvNamed(where string, rec []string, c *csvColumns) entry {
	get := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return rec[i]
	}
	e := entry{where: where, uri: get(c.uri), caption: get(c.caption), label: strings.TrimSpace(get(c.label)), image: c.image >= 0}
	var msg string
	if e.start, msg = parseSeconds("start", get(c.start)); msg != "" {
		e.err = msg
	} else if e.end, msg = parseSeconds("end", get(c.end)); msg != "" {
		e.err = msg
	}
	return e
}

func csvPlain(where string, rec []string) entry {
	e := entry{where: where}
	switch len(rec) {
	case 1, 2:
		e.uri = strings.TrimSpace(rec[0])
		if len(rec) == 2 {
			e.label = strings.TrimSpace(rec[1])
		}
	default:
		e.err = fmt.Sprintf("expected path,label (2 fields), got %d; add a header line naming the columns (uri,caption,label,start,end)", len(rec))
		return e
	}
	if e.uri != "" && !HasScheme(e.uri) && !strings.Contains(lastElem(e.uri), ".") {
		e.uri += ".mp4"
	}
	return e
}

func lastElem(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}
