package text

import (
	"testing"
)

// BenchmarkEncode encodes the reference captions (the 20 raw ones, in several scripts and up to
// 280 characters, and their 20 pre_text forms) at max_len 32 on one goroutine and reports
// captions/s, which is per core; "pretext" also runs PreText first, as prep does.
func BenchmarkEncode(b *testing.B) {
	_, r, tok, _ := loadRefs(b)
	caps := append(append([]string(nil), r.Captions...), r.PreTextCaptions...)
	ids, mask := make([]int32, 32), make([]uint8, 32)
	run := func(b *testing.B, pre bool) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			c := caps[n%len(caps)]
			if pre {
				c = PreText(c, 0)
			}
			tok.EncodeInto(ids, mask, c)
			n++
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "captions/s")
	}
	b.Run("tokenize", func(b *testing.B) { run(b, false) })
	b.Run("pretext+tokenize", func(b *testing.B) { run(b, true) })
}
