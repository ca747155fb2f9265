package prep

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/transforms/manifest"
)

// ReadManifest reads the manifest on one worker and returns its rows and a singleton with the
// row count (the number ok + failed must add up to).
func ReadManifest(s beam.Scope, cfg Plan) (rows, count beam.PCollection) {
	s = s.Scope("ReadManifest")
	imp := beam.Impulse(s)
	return beam.ParDo2(s, &readManifestFn{Cfg: cfg}, imp)
}

// readManifestFn streams the manifest's rows.
type readManifestFn struct {
	Cfg  Plan
	rows beam.Counter
}

func (f *readManifestFn) Setup() { f.rows = beam.NewCounter(Namespace, "manifest_rows") }

func (f *readManifestFn) ProcessElement(ctx context.Context, _ []byte, emit func(manifest.Row), emitCount func(int64)) error {
	opt := manifest.Options{Format: manifest.Format(f.Cfg.ManifestFormat), Root: f.Cfg.Root}
	if f.Cfg.CSVSep != "" {
		opt.Sep = []rune(f.Cfg.CSVSep)[0]
	}
	var n int64
	err := manifest.Read(ctx, f.Cfg.Manifest, opt, func(r manifest.Row) error {
		n++
		emit(r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the manifest: %w", err)
	}
	f.rows.Inc(ctx, n)
	emitCount(n)
	return nil
}

func init() {
	register.DoFn4x1[context.Context, []byte, func(manifest.Row), func(int64), error](&readManifestFn{})
	register.Emitter1[manifest.Row]()
	register.Emitter1[int64]()
}
