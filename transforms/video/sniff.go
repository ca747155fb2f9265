package video

import (
	"bytes"
	"encoding/binary"
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

// isoTruncated walks the top-level ISO-BMFF boxes and reports whether the last one claims
// more bytes than the file has, or the chain ends without a moov (the index was at the end
// and got cut off). ok is false when the walk itself makes no sense (not ISO-BMFF).
func isoTruncated(r io.ReaderAt, size int64) (truncated, ok bool) {
	var off int64
	hdr := make([]byte, 16)
	sawMoov := false
	for n := 0; off < size && n < 100000; n++ {
		if size-off < 8 {
			return true, true
		}
		if _, err := r.ReadAt(hdr[:8], off); err != nil {
			return false, false
		}
		bsize := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		for _, c := range []byte(typ) {
			if c < 0x20 || c > 0x7e {
				return false, false
			}
		}
		switch bsize {
		case 0: // to end of file
			bsize = size - off
		case 1:
			if _, err := r.ReadAt(hdr[8:16], off+8); err != nil {
				return true, true
			}
			bsize = int64(binary.BigEndian.Uint64(hdr[8:16]))
		}
		if bsize < 8 {
			return false, false
		}
		if typ == "moov" {
			sawMoov = true
		}
		if off+bsize > size {
			return true, true
		}
		off += bsize
	}
	return !sawMoov, true
}
