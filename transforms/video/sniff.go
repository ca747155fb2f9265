package video

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Container sniffing, used only when FFmpeg refuses to open an input, to tell "a video file
// that lost its end or its header" (truncated / corrupt) from "not a video at all".

var isoBoxes = map[string]bool{
	"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true, "wide": true,
	"pnot": true, "moof": true, "styp": true, "sidx": true, "uuid": true, "meta": true,
}

// sniffContainer names the container family whose signature starts b, or "".
func sniffContainer(b []byte) string {
	switch {
	case len(b) >= 8 && isoBoxes[string(b[4:8])]:
		return "isobmff"
	case len(b) >= 4 && bytes.Equal(b[:4], []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return "matroska"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "AVI ":
		return "avi"
	case len(b) >= 4 && string(b[:4]) == "OggS":
		return "ogg"
	case len(b) >= 3 && string(b[:3]) == "FLV":
		return "flv"
	case len(b) >= 377 && b[0] == 0x47 && b[188] == 0x47 && b[376] == 0x47:
		return "mpegts"
	}
	return ""
}

// isoWalk is what a walk over the top-level ISO-BMFF boxes found.
type isoWalk struct {
	ok      bool   // the bytes are a chain of boxes (else nothing below is meaningful)
	cutBox  string // the box whose declared size runs past the end of the file ("" if none)
	cutAt   int64  // where that box starts
	cutWant int64  // the size it declares
	moov    bool   // a moov box was seen
}

// cut says where the file ends inside a box, or "" when every box ends within the file.
func (w isoWalk) cut(size int64) string {
	if w.cutBox == "" {
		return ""
	}
	return fmt.Sprintf("the file ends inside its %q box (at byte %d it declares %d bytes, %d are present)", w.cutBox, w.cutAt, w.cutWant, size-w.cutAt)
}

// walkISO walks the top-level boxes (at most 100000; a fragmented file has two per fragment).
// A file cut inside a box has a last box whose declared size runs past the end of the file;
// a walk that ends exactly at the last byte describes a whole file.
func walkISO(r io.ReaderAt, size int64) isoWalk {
	var off int64
	var w isoWalk
	hdr := make([]byte, 16)
	for n := 0; off < size && n < 100000; n++ {
		if size-off < 8 {
			w.ok, w.cutBox, w.cutAt, w.cutWant = true, "(box header)", off, 8
			return w
		}
		if _, err := r.ReadAt(hdr[:8], off); err != nil {
			return isoWalk{}
		}
		bsize := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		for _, c := range []byte(typ) {
			if c < 0x20 || c > 0x7e {
				return isoWalk{moov: w.moov}
			}
		}
		switch bsize {
		case 0: // to end of file
			bsize = size - off
		case 1:
			if _, err := r.ReadAt(hdr[8:16], off+8); err != nil {
				w.ok, w.cutBox, w.cutAt, w.cutWant = true, typ, off, 16
				return w
			}
			bsize = int64(binary.BigEndian.Uint64(hdr[8:16]))
		}
		if bsize < 8 {
			return isoWalk{moov: w.moov}
		}
		if typ == "moov" {
			w.moov = true
		}
		if off+bsize > size || off+bsize < off {
			w.ok, w.cutBox, w.cutAt, w.cutWant = true, typ, off, bsize
			return w
		}
		off += bsize
	}
	w.ok = true
	return w
}
