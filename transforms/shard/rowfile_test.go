package shard

import (
	"errors"
	"reflect"
	"testing"

	"github.com/umt-dev/umt/schemas"
)

func rowFileErr(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, schemas.ErrSchema) || errors.Is(err, schemas.ErrRow)
}

// TestRowFileRoundTripsAndRefusesDamage: a staged row reads back equal, and every cut or
// flipped byte of its file is a classified error (or, for a flip inside the data, a row that
// still validates), never a panic.
func TestRowFileRoundTripsAndRefusesDamage(t *testing.T) {
	for _, layout := range []string{"full", "visible:2", "frames"} {
		p := small(layout)
		row := rowsFor(p, 7, 1)[0]
		data, err := EncodeRow(p, row)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRow(p, data)
		if err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		if !reflect.DeepEqual(got, row) {
			t.Fatalf("%s: row changed in the round trip", layout)
		}
		for cut := 0; cut < len(data); cut += max(1, len(data)/64) {
			if _, err := DecodeRow(p, data[:cut]); !rowFileErr(err) {
				t.Fatalf("%s: file cut at %d of %d bytes: %v", layout, cut, len(data), err)
			}
		}
		other := small("visible:1")
		if _, err := DecodeRow(other, data); layout != "visible:1" && !rowFileErr(err) {
			t.Fatalf("%s: a row of another configuration was accepted: %v", layout, err)
		}
	}
}

// FuzzDecodeRow: any bytes give a row that validates or a classified error, never a panic.
func FuzzDecodeRow(f *testing.F) {
	p := small("visible:2")
	seed, err := EncodeRow(p, rowsFor(p, 3, 1)[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("ARROW1\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		row, err := DecodeRow(p, data)
		if err != nil {
			if !rowFileErr(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if err := row.Validate(p); err != nil {
			t.Fatalf("a row that does not validate came out: %v", err)
		}
	})
}
