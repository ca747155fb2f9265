package manifest

import (
	"encoding/json"
	"fmt"
	"io"
)

// decodeJSONList streams a UMT JSON annotation list: [{"video": …, "caption": …}, …].
// An element that is not a usable object becomes a row with Err; broken JSON syntax stops the
// read, because nothing after it can be trusted.
func decodeJSONList(r io.Reader, res *resolver, fn func(Row) error) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not a JSON list: %v; a UMT annotation file is [{\"video\": path, \"caption\": text}, …]", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("not a JSON list (starts with %v); a UMT annotation file is [{\"video\": path, \"caption\": text}, …]", tok)
	}
	for n := 0; dec.More(); n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("entry %d: JSON syntax error at byte %d: %v; fix the file and rerun", n, dec.InputOffset(), err)
		}
		if err := fn(res.row(objectEntry(fmt.Sprintf("entry %d", n), raw))); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("the JSON list is not closed: %v; the file may be truncated", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON list at byte %d; a UMT annotation file holds one list", dec.InputOffset())
	}
	return nil
}
