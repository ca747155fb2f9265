package video

import "sync/atomic"

// Live FFmpeg object accounting: every allocation this package makes is counted up here
// and down when freed, so tests can assert that nothing outlives a call.
type objKind int

const (
	kindGuard objKind = iota
	kindIO
	kindFormat
	kindCodec
	kindPacket
	kindFrame
	kindConv
	numKinds
)

var kindNames = [numKinds]string{"guard", "io_context", "format_context", "codec_context", "packet", "frame", "converter"}

type counters struct{ n [numKinds]atomic.Int64 }

var live counters

func (c *counters) add(k objKind, d int64) { c.n[k].Add(d) }

// LiveObjects reports the FFmpeg objects this package currently holds, by kind; all zero
// when no Probe or Sample call is running.
func LiveObjects() map[string]int64 {
	m := make(map[string]int64, numKinds)
	for k := range numKinds {
		m[kindNames[k]] = live.n[k].Load()
	}
	return m
}
