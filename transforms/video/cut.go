package video

import (
	"bytes"
	"fmt"
	"strings"
)

// Structural truncation: a container whose declared duration comes from the data present
// (fragmented MP4 without an index of its fragments, MPEG-TS and Ogg, which take their
// duration from the last timestamps in the file) reads as a whole, shorter video when cut.
// What gives the cut away is the file ending inside one of its own units: an ISO-BMFF box
// whose declared size runs past the last byte, a partial 188-byte transport packet, an Ogg
// page whose segment table promises more bytes than the file has.

// structuralCut says how the opened input ends inside a unit of its container, or "".
// It costs a walk over the top-level box headers (MP4/MOV) or one read of the last 192 KiB
// (Ogg); nothing for MPEG-TS.
func (in *input) structuralCut(format string) string {
	switch strings.Split(format, ",")[0] {
	case "mov":
		r, done, err := in.src.readerAt()
		if err != nil {
			return ""
		}
		defer done()
		return walkISO(r, in.size).cut(in.size)
	case "mpegts":
		if in.size%188 != 0 && in.size%192 != 0 && in.size%204 != 0 {
			return fmt.Sprintf("the file ends inside a transport packet (%d bytes is not a whole number of 188-byte packets)", in.size)
		}
	case "ogg":
		r, done, err := in.src.readerAt()
		if err != nil {
			return ""
		}
		defer done()
		n := min(in.size, 192<<10)
		tail := make([]byte, n)
		if _, err := r.ReadAt(tail, in.size-n); err != nil {
			return ""
		}
		return oggTailCut(tail, in.size)
	}
	return ""
}

// oggTailCut finds the first page in tail (the last bytes of a file of size bytes) whose CRC
// checks, follows the pages after it, and reports a last page that runs past the end.
func oggTailCut(tail []byte, size int64) string {
	base := size - int64(len(tail))
	for i := 0; i+27 <= len(tail); i++ {
		j := bytes.Index(tail[i:], []byte("OggS"))
		if j < 0 {
			return ""
		}
		i += j
		end, ok := oggPage(tail, i)
		if !ok || end > len(tail) {
			continue // a capture pattern inside payload bytes, or a page we cannot verify
		}
		for p := end; p < len(tail); p = end {
			rest := tail[p:]
			if !bytes.HasPrefix(rest, []byte("OggS")) && !(len(rest) < 4 && bytes.HasPrefix([]byte("OggS"), rest)) {
				return "" // trailing bytes that are not a page: not ours to judge
			}
			if len(rest) < 27 {
				return fmt.Sprintf("the file ends inside the header of an Ogg page at byte %d", base+int64(p))
			}
			var ok bool
			end, ok = oggPageLen(tail, p)
			if !ok {
				return ""
			}
			if end > len(tail) {
				return fmt.Sprintf("the file ends inside the Ogg page at byte %d (it declares %d bytes, %d are present)", base+int64(p), end-p, len(tail)-p)
			}
		}
		return ""
	}
	return ""
}

// oggPageLen returns where the page at p ends, from its segment table.
func oggPageLen(b []byte, p int) (int, bool) {
	if p+27 > len(b) {
		return 0, false
	}
	nseg := int(b[p+26])
	if p+27+nseg > len(b) {
		return p + 27 + nseg, true // the segment table itself is cut: past the end
	}
	n := 27 + nseg
	for _, s := range b[p+27 : p+27+nseg] {
		n += int(s)
	}
	return p + n, true
}

// oggPage returns the end of the page at p and whether its CRC checks.
func oggPage(b []byte, p int) (int, bool) {
	end, ok := oggPageLen(b, p)
	if !ok || end > len(b) {
		return end, false
	}
	page := append([]byte(nil), b[p:end]...)
	want := uint32(page[22]) | uint32(page[23])<<8 | uint32(page[24])<<16 | uint32(page[25])<<24
	page[22], page[23], page[24], page[25] = 0, 0, 0, 0
	return end, oggCRC(page) == want
}

var oggTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the Ogg page checksum (CRC-32, polynomial 0x04c11db7, not reflected, init 0).
func oggCRC(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ oggTable[byte(c>>24)^x]
	}
	return c
}
