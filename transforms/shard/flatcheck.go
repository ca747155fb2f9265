package shard

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Arrow-go trusts the lengths inside an IPC file's flatbuffer metadata: a corrupted vector
// length makes it allocate that many elements (a fatal out-of-memory, not a panic) and a
// cyclic field tree recurses without end. checkFile and checkBlock walk the footer and each
// message header the way Arrow will, checking that each table, vector and string lies inside
// its buffer and that nesting is shallow, before any of it reaches Arrow. They check structure
// only; Arrow and schemas.NewClipBatch check meaning.

const maxFieldDepth = 32

type fb struct {
	b     []byte
	steps int // work budget: the walk is linear in the metadata size
}

func (f *fb) err(format string, a ...any) error {
	return fmt.Errorf("%w: Arrow metadata: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

func (f *fb) u32(pos int) (uint32, error) {
	if pos < 0 || pos+4 > len(f.b) {
		return 0, f.err("offset %d outside %d bytes", pos, len(f.b))
	}
	return binary.LittleEndian.Uint32(f.b[pos:]), nil
}

// table checks the table at pos and returns a field locator.
func (f *fb) table(pos int) (func(id int) (int, bool), error) {
	if f.steps++; f.steps > 1<<20 {
		return nil, f.err("too many tables")
	}
	so, err := f.u32(pos)
	if err != nil {
		return nil, err
	}
	vt := pos - int(int32(so))
	if vt < 0 || vt+4 > len(f.b) {
		return nil, f.err("vtable at %d outside %d bytes", vt, len(f.b))
	}
	vtSize := int(binary.LittleEndian.Uint16(f.b[vt:]))
	tblSize := int(binary.LittleEndian.Uint16(f.b[vt+2:]))
	if vtSize < 4 || vt+vtSize > len(f.b) || pos+tblSize > len(f.b) {
		return nil, f.err("table at %d overruns its buffer", pos)
	}
	return func(id int) (int, bool) {
		o := 4 + 2*id
		if o+2 > vtSize {
			return 0, false
		}
		off := int(binary.LittleEndian.Uint16(f.b[vt+o:]))
		if off == 0 {
			return 0, false
		}
		return pos + off, true
	}, nil
}

// ref follows the uoffset stored at pos.
func (f *fb) ref(pos int) (int, error) {
	rel, err := f.u32(pos)
	if err != nil {
		return 0, err
	}
	t := pos + int(rel)
	if t < 0 || t >= len(f.b) {
		return 0, f.err("reference at %d points outside the buffer", pos)
	}
	return t, nil
}

// vector checks the vector referenced at pos (element size elem) and returns its start and length.
func (f *fb) vector(pos, elem int) (start, n int, err error) {
	v, err := f.ref(pos)
	if err != nil {
		return 0, 0, err
	}
	l, err := f.u32(v)
	if err != nil {
		return 0, 0, err
	}
	if int64(l)*int64(elem) > int64(len(f.b)-v-4) {
		return 0, 0, f.err("vector of %d×%d bytes at %d overruns the buffer", l, elem, v)
	}
	return v + 4, int(l), nil
}

// tables checks a vector of tables at field pos with check applied to each.
func (f *fb) tables(field func(int) (int, bool), id int, check func(pos int) error) error {
	pos, ok := field(id)
	if !ok {
		return nil
	}
	start, n, err := f.vector(pos, 4)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		t, err := f.ref(start + 4*i)
		if err != nil {
			return err
		}
		if err := check(t); err != nil {
			return err
		}
	}
	return nil
}

func (f *fb) optVector(field func(int) (int, bool), id, elem int) error {
	if pos, ok := field(id); ok {
		_, _, err := f.vector(pos, elem)
		return err
	}
	return nil
}

func (f *fb) optTable(field func(int) (int, bool), id int, check func(pos int) error) error {
	pos, ok := field(id)
	if !ok {
		return nil
	}
	t, err := f.ref(pos)
	if err != nil {
		return err
	}
	return check(t)
}

func (f *fb) keyValue(pos int) error {
	field, err := f.table(pos)
	if err != nil {
		return err
	}
	if err := f.optVector(field, 0, 1); err != nil {
		return err
	}
	return f.optVector(field, 1, 1)
}

func (f *fb) anyTable(pos int) error { _, err := f.table(pos); return err }

func (f *fb) field(pos, depth int) error {
	if depth > maxFieldDepth {
		return f.err("fields nested deeper than %d", maxFieldDepth)
	}
	field, err := f.table(pos)
	if err != nil {
		return err
	}
	if err := f.optVector(field, 0, 1); err != nil { // name
		return err
	}
	typeType := -1
	if p, ok := field(2); ok && p < len(f.b) {
		typeType = int(f.b[p])
	}
	err = f.optTable(field, 3, func(t int) error {
		tt, err := f.table(t)
		if err != nil || typeType != 14 { // Union: typeIds vector
			return err
		}
		return f.optVector(tt, 1, 4)
	})
	if err != nil {
		return err
	}
	err = f.optTable(field, 4, func(t int) error { // dictionary encoding
		dt, err := f.table(t)
		if err != nil {
			return err
		}
		return f.optTable(dt, 1, f.anyTable)
	})
	if err != nil {
		return err
	}
	if err := f.tables(field, 5, func(c int) error { return f.field(c, depth+1) }); err != nil {
		return err
	}
	return f.tables(field, 6, f.keyValue)
}

func (f *fb) schema(pos int) error {
	field, err := f.table(pos)
	if err != nil {
		return err
	}
	if err := f.tables(field, 1, func(p int) error { return f.field(p, 0) }); err != nil {
		return err
	}
	if err := f.tables(field, 2, f.keyValue); err != nil {
		return err
	}
	return f.optVector(field, 3, 8)
}

func (f *fb) recordBatch(pos int) error {
	field, err := f.table(pos)
	if err != nil {
		return err
	}
	for _, v := range []struct{ id, elem int }{{1, 16}, {2, 16}, {4, 8}} {
		if err := f.optVector(field, v.id, v.elem); err != nil {
			return err
		}
	}
	return f.optTable(field, 3, f.anyTable)
}

func (f *fb) root() (int, error) { return f.ref(0) }

// checkFooter checks a footer flatbuffer and returns its dictionary and record batch blocks
// (offset, metadata length, body length).
func checkFooter(b []byte) (dicts, batches [][3]int64, err error) {
	f := &fb{b: b}
	r, err := f.root()
	if err != nil {
		return nil, nil, err
	}
	field, err := f.table(r)
	if err != nil {
		return nil, nil, err
	}
	if err := f.optTable(field, 1, f.schema); err != nil {
		return nil, nil, err
	}
	if err := f.tables(field, 4, f.keyValue); err != nil {
		return nil, nil, err
	}
	for _, id := range []int{2, 3} {
		pos, ok := field(id)
		if !ok {
			continue
		}
		start, n, err := f.vector(pos, 24)
		if err != nil {
			return nil, nil, err
		}
		for i := 0; i < n; i++ {
			e := b[start+24*i:]
			blk := [3]int64{int64(binary.LittleEndian.Uint64(e)), int64(int32(binary.LittleEndian.Uint32(e[8:]))), int64(binary.LittleEndian.Uint64(e[16:]))}
			if id == 2 {
				dicts = append(dicts, blk)
			} else {
				batches = append(batches, blk)
			}
		}
	}
	return dicts, batches, nil
}

// checkMessage checks one encapsulated message header (continuation, length, flatbuffer).
func checkMessage(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: Arrow message header of %d bytes", ErrCorrupt, len(b))
	}
	n := int64(int32(binary.LittleEndian.Uint32(b[4:])))
	body := b[8:]
	if binary.LittleEndian.Uint32(b) != 0xFFFFFFFF {
		n, body = int64(int32(binary.LittleEndian.Uint32(b))), b[4:]
	}
	if n < 0 || n > int64(len(body)) {
		return fmt.Errorf("%w: Arrow message length %d outside its block", ErrCorrupt, n)
	}
	f := &fb{b: body[:n]}
	r, err := f.root()
	if err != nil {
		return err
	}
	field, err := f.table(r)
	if err != nil {
		return err
	}
	if err := f.tables(field, 4, f.keyValue); err != nil {
		return err
	}
	htype := -1
	if p, ok := field(1); ok && p < len(f.b) {
		htype = int(f.b[p])
	}
	return f.optTable(field, 2, func(h int) error {
		switch htype {
		case 1: // Schema
			return f.schema(h)
		case 2: // DictionaryBatch: its data is a RecordBatch
			dt, err := f.table(h)
			if err != nil {
				return err
			}
			return f.optTable(dt, 1, f.recordBatch)
		case 3: // RecordBatch
			return f.recordBatch(h)
		default:
			_, err := f.table(h)
			return err
		}
	})
}

// checkFile checks the magic and the footer of an Arrow IPC file read through r (size bytes),
// and the headers of its dictionary messages, which Arrow reads when it opens the file. It
// returns the record batch blocks, whose headers checkBlock checks before each batch is read.
func checkFile(r io.ReaderAt, size int64) ([][3]int64, error) {
	const magic = "ARROW1"
	if size < 8+10 {
		return nil, fmt.Errorf("%w: %d bytes is too short for an Arrow file", ErrCorrupt, size)
	}
	tail := make([]byte, 10)
	if _, err := r.ReadAt(tail, size-10); err != nil {
		return nil, err
	}
	head := make([]byte, 6)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, err
	}
	if string(tail[4:]) != magic || string(head) != magic {
		return nil, fmt.Errorf("%w: not an Arrow IPC file (bad magic; truncated?)", ErrCorrupt)
	}
	flen := int64(int32(binary.LittleEndian.Uint32(tail)))
	if flen <= 0 || flen > size-18 {
		return nil, fmt.Errorf("%w: Arrow footer length %d outside the file", ErrCorrupt, flen)
	}
	footer := make([]byte, flen)
	if _, err := r.ReadAt(footer, size-10-flen); err != nil {
		return nil, err
	}
	dicts, batches, err := checkFooter(footer)
	if err != nil {
		return nil, err
	}
	for _, blk := range dicts {
		if err := checkBlock(r, size, blk); err != nil {
			return nil, err
		}
	}
	return batches, nil
}

// checkBlock checks the message header of one block.
func checkBlock(r io.ReaderAt, size int64, blk [3]int64) error {
	off, meta := blk[0], blk[1]
	if off < 0 || meta < 8 || meta > 64<<20 || off > size || meta > size-off {
		return fmt.Errorf("%w: Arrow block at %d (%d bytes of metadata) outside the file", ErrCorrupt, off, meta)
	}
	m := make([]byte, meta)
	if _, err := r.ReadAt(m, off); err != nil {
		return err
	}
	return checkMessage(m)
}
