package prep

import (
	"encoding/json"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// Build adds the prep pipeline of cfg.Phase to s.
func Build(s beam.Scope, cfg Plan) {
	s = s.Scope("Prep")
	if cfg.Phase == PhaseTeacher {
		refs, carried, count := ReadFrames(s, cfg)
		loaded, loadItems := LoadFrames(s, cfg, refs)
		staged := Teach(s, cfg, loaded)
		results := WriteGroups(s, cfg, beam.Flatten(s, carried, loadItems, staged))
		Commit(s, cfg, count, results)
		return
	}
	rows, count := ReadManifest(s, cfg)
	work, early := Identify(s, cfg, rows)
	decoded, decodeItems := Decode(s, cfg, work)
	var staged beam.PCollection
	if cfg.Phase == PhaseFrames {
		staged = StageFrames(s, cfg, decoded)
	} else {
		staged = Teach(s, cfg, decoded)
	}
	results := WriteGroups(s, cfg, beam.Flatten(s, early, decodeItems, staged))
	Commit(s, cfg, count, results)
}

func provenanceJSON(p any) (string, error) {
	b, err := json.Marshal(p)
	return string(b), err
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
