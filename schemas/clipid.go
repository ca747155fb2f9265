package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// ClipID returns the stable, content-addressed id of a clip: the first 16 bytes (32 hex digits)
// of SHA-256 over the source URI, the span bounds in seconds (shortest exact decimal form) and
// the sampler configuration, separated by NUL bytes. The same inputs give the same id on every
// machine and run, so a rerun can tell which clips are already committed.
func ClipID(sourceURI string, start, end float64, samplerConfig string) string {
	h := sha256.New()
	h.Write([]byte("umt.clip.v1\x00"))
	h.Write([]byte(sourceURI))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatFloat(start, 'g', -1, 64)))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatFloat(end, 'g', -1, 64)))
	h.Write([]byte{0})
	h.Write([]byte(samplerConfig))
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}
