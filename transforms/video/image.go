package video

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// SampleImage decodes the first frame of src and renders it as a 1-frame clip: the "image"
// entries of UMT's annotation lists. src is a still image in any format FFmpeg's image
// demuxers read (JPEG, PNG, WebP, BMP, TIFF, GIF and APNG (their first frame), PPM/PGM, QOI,
// ...); by file name (image2) for a FileSource, by content for a ReaderSource/SeekerSource.
// Text demuxers (ANSI art, SVG) are still not_media.
//
// The frame goes through exactly the chain of Sample's frames (rotation unless NoAutorotate,
// SAR with FixSAR, one swscale call to RGB24 using the frame's colour tags and range, e.g.
// full-range yuvj420p for JPEG, then the centre crop), so the output equals
// `ffmpeg -i IMG -frames:v 1 -vf scale=…:flags=bicubic,crop=S:S` bit for bit. Alpha is
// dropped, as that command does.
//
// The clip has exactly one frame: Frames is [1, H, W, 3], PTS and TimeS are the frame's
// ([0] and [0] for an image), Targets [0], FramesDecoded 1 and SeekMode "sequential".
// cfg's Size, Crop, Interp, NoAutorotate, FixSAR, Threads, Deadline and Limits apply as in
// Sample; Sampler, Frames, Seed, Start, End, OnMissing and Seek are ignored.
//
// A video is accepted too and gives its first frame in presentation order, the same frame
// and bytes as Sample with "at:0" (tests check this on corpus videos, B-frames and rotation
// included), so a manifest that calls a clip an image still trains on something sensible.
// Its PTS/TimeS are then that frame's. A video cut short gives its first frame when its
// index and that frame survive (a faststart MP4); without its index it is truncated, as in
// Sample. Audio-only files are no_video_stream.
//
// Errors use Sample's classes: missing, empty, not_media (no image or video in the bytes, a
// text file even when its name says .jpg), truncated (a JPEG without its EOI marker, a PNG
// without IEND or with a chunk past the end, a WebP shorter than its RIFF header says, or a
// failed read: FFmpeg would render such a file with a grey or missing bottom, so it is an
// error here), corrupt (the decoder finds no picture), unsupported, too_large, timeout.
func SampleImage(ctx context.Context, src Source, cfg SampleConfig) (*Clip, error) {
	if err := validateImageConfig(cfg); err != nil {
		return nil, err
	}
	ctx, cancel := withDeadline(ctx, cfg.Deadline)
	defer cancel()
	clip, err := sampleImage(ctx, src, cfg)
	if err != nil {
		var ce *classed
		if errors.As(err, &ce) && ce.name == "" {
			ce.name = src.name
		}
		return nil, err
	}
	return clip, nil
}

// validateImageConfig checks the fields SampleImage uses (Validate with the sampler fields
// replaced by valid ones).
func validateImageConfig(cfg SampleConfig) error {
	cfg.Sampler, cfg.Frames, cfg.Start, cfg.End, cfg.OnMissing, cfg.Seek = SamplerMiddle, 1, 0, 0, "", ""
	_, err := cfg.Validate()
	return err
}

func sampleImage(ctx context.Context, src Source, cfg SampleConfig) (*Clip, error) {
	lim := cfg.Limits.withDefaults()
	size, err := src.stat()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, timeoutErr(src.name, err)
	}
	head := src.head(16)
	if why, err := imageTruncated(ctx, src, size, sniffImage(head)); err != nil {
		return nil, err
	} else if why != "" {
		return nil, newErr(ErrTruncated, src.name, nil, "%s; re-download it", why)
	}
	in, err := openInputMode(ctx, src, true)
	if err != nil {
		return nil, reclassImage(err, src.name, head, "")
	}
	defer in.close()
	info, err := in.probe(lim)
	if err != nil {
		return nil, reclassImage(err, src.name, head, info.FormatName)
	}
	dec, err := newDecoder(in, cfg.Threads, lim)
	if err != nil {
		return nil, reclassImage(err, src.name, head, info.FormatName)
	}
	defer dec.close()
	if err := dec.next(); err != nil {
		if err != io.EOF {
			return nil, err
		}
		if in.readErr != nil {
			return nil, newErr(ErrTruncated, src.name, in.readErr, "reading the source failed part-way; retry or re-fetch it")
		}
		return nil, reclassImage(newErr(ErrCorrupt, src.name, dec.readErr, "the %s decoder found no picture", info.Codec), src.name, head, info.FormatName)
	}
	f := dec.frame
	g, err := streamGeometry(in, f.Width(), f.Height(), cfg)
	if err != nil {
		return nil, err
	}
	fb := g.outW * g.outH * 3
	if int64(fb) > lim.MaxOutputBytes {
		return nil, newErr(ErrTooLarge, src.name, nil, "a %dx%d frame exceeds Limits.MaxOutputBytes (%d)", g.outW, g.outH, lim.MaxOutputBytes)
	}
	conv, err := newConverter()
	if err != nil {
		return nil, err
	}
	defer conv.close()
	clip := &Clip{
		Frames: make([]byte, fb), PTS: []int64{0}, TimeS: []float64{0}, Targets: []float64{0},
		Width: g.outW, Height: g.outH, Info: info, Missing: []bool{false},
		DecodeErrors: dec.decodeErrs, FramesDecoded: dec.frames, SeekMode: "sequential",
	}
	if err := conv.render(f, g, clip.Frames); err != nil {
		return nil, err
	}
	if p := pts(f); p != noPTS {
		clip.PTS[0] = p
		clip.TimeS[0] = float64(p)*ratFloat(in.st.TimeBase()) - info.StartTimeS
	}
	return clip, nil
}

// reclassImage refines a corrupt/not_media verdict with the image signature: bytes that
// image2 took for an image by their file name alone (a text file named .jpg) and that carry
// no image or container signature are not_media; a recognised image signature whose header
// FFmpeg cannot open is corrupt. format is the demuxer, "" when none opened.
func reclassImage(err error, name string, head []byte, format string) error {
	img := sniffImage(head)
	switch {
	case errors.Is(err, ErrCorrupt) && format == "image2" && img == "" && sniffContainer(head) == "":
		return newErr(ErrNotMedia, name, err, "the bytes are no image FFmpeg knows (only the name looked like one)")
	case errors.Is(err, ErrNotMedia) && img != "":
		return newErr(ErrCorrupt, name, err, "%s header is damaged", img)
	}
	return err
}

var pngSig = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}

// sniffImage names the image format whose signature starts b, or "".
func sniffImage(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "JPEG"
	case bytes.HasPrefix(b, pngSig):
		return "PNG"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "WebP"
	case len(b) >= 6 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return "GIF"
	case len(b) >= 14 && string(b[:2]) == "BM":
		return "BMP"
	case len(b) >= 4 && (string(b[:4]) == "II*\x00" || string(b[:4]) == "MM\x00*"):
		return "TIFF"
	case len(b) >= 4 && string(b[:4]) == "qoif":
		return "QOI"
	}
	return ""
}

// imageTruncated walks the structure of a JPEG, PNG or WebP and says why it ends early ("" when
// it is complete or the walk cannot tell). FFmpeg decodes such files without an error (the
// missing rows come out grey), so the check runs before decoding.
func imageTruncated(ctx context.Context, src Source, size int64, kind string) (string, error) {
	if kind != "JPEG" && kind != "PNG" && kind != "WebP" {
		return "", nil
	}
	r, done, err := src.readerAt()
	if err != nil {
		return "", newErr(ErrMissing, src.name, err, "cannot open the file")
	}
	defer done()
	cr := &ctxReaderAt{ctx: ctx, r: r}
	var why string
	switch kind {
	case "JPEG":
		why = jpegTruncated(cr, size)
	case "PNG":
		why = pngTruncated(cr, size)
	case "WebP":
		var hdr [8]byte
		if _, err := cr.ReadAt(hdr[:], 0); err == nil {
			if n := int64(binary.LittleEndian.Uint32(hdr[4:])); 8+n > size {
				why = fmt.Sprintf("the WebP (RIFF) header says %d bytes, the file has %d", 8+n, size)
			}
		}
	}
	if cr.err != nil {
		if ctx.Err() != nil {
			return "", timeoutErr(src.name, ctx.Err())
		}
		return "", newErr(ErrTruncated, src.name, cr.err, "reading the source failed part-way; retry or re-fetch it")
	}
	return why, nil
}

// ctxReaderAt stops reading once ctx is done and remembers the first error that is not EOF.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
	err error
}

func (c *ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}

// jpegTruncated walks the marker segments and the entropy-coded data after each SOS up to
// EOI. Entropy-coded data holds 0xFF only as FF00 (stuffing), FFD0–FFD7 (restart markers) or
// fill FFs before a marker, so the next other marker ends a scan.
func jpegTruncated(r io.ReaderAt, size int64) string {
	const ended = "the JPEG ends before its EOI marker (the file was cut short)"
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 32<<10)
	if _, err := br.Discard(2); err != nil { // SOI
		return ended
	}
	needFF := true
	for {
		if needFF {
			c, err := br.ReadByte()
			if err != nil {
				return ended
			}
			if c != 0xFF {
				return "" // not a marker: damaged, the decoder decides
			}
		}
		needFF = true
		c, err := br.ReadByte()
		for err == nil && c == 0xFF {
			c, err = br.ReadByte()
		}
		if err != nil {
			return ended
		}
		switch {
		case c == 0xD9: // EOI
			return ""
		case c == 0x00:
			return ""
		case c >= 0xD0 && c <= 0xD7, c == 0x01, c == 0xD8:
			continue
		}
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return ended
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n < 2 {
			return ""
		}
		if _, err := br.Discard(n - 2); err != nil {
			return ended
		}
		if c != 0xDA { // not SOS
			continue
		}
		for { // entropy-coded data up to the next marker
			_, err := br.ReadSlice(0xFF)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				return ended
			}
			nb, err := br.Peek(1)
			if err != nil {
				return ended
			}
			if nb[0] == 0x00 || (nb[0] >= 0xD0 && nb[0] <= 0xD7) {
				br.Discard(1)
				continue
			}
			if nb[0] == 0xFF {
				continue
			}
			needFF = false // the FF of the marker is consumed; its code comes next
			break
		}
	}
}

// pngTruncated walks the chunks up to IEND.
func pngTruncated(r io.ReaderAt, size int64) string {
	off := int64(len(pngSig))
	var hdr [8]byte
	for off < size {
		if size-off < 12 {
			break
		}
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			break
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		if n > 0x7fffffff {
			return "" // damaged, not cut: the decoder decides
		}
		if off+12+n > size {
			return fmt.Sprintf("the PNG chunk %q at byte %d needs %d bytes, the file has %d (the file was cut short)", hdr[4:8], off, off+12+n, size)
		}
		if string(hdr[4:8]) == "IEND" {
			return ""
		}
		off += 12 + n
	}
	return "the PNG ends before its IEND chunk (the file was cut short)"
}
