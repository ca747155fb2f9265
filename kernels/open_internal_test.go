package kernels

import (
	"strings"
	"testing"
)

// TestOpenUnlinkedBackend: in a program that links no backend, Open says which import is
// missing instead of failing obscurely.
func TestOpenUnlinkedBackend(t *testing.T) {
	registry.Lock()
	linked := registry.open
	registry.open = nil // this test binary links both (open_test.go): hide them
	registry.Unlock()
	t.Cleanup(func() {
		registry.Lock()
		registry.open = linked
		registry.Unlock()
	})
	for spec, want := range map[string]string{
		"cpu":  `import _ "github.com/umt-dev/umt/kernels/cpu"`,
		"auto": `import _ "github.com/umt-dev/umt/kernels/cpu"`,
		"cuda": `import _ "github.com/umt-dev/umt/kernels/cuda"`,
	} {
		if _, err := Open(spec, Options{}); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "linked: none") {
			t.Errorf("Open(%q) without backends: %v; want it to name %s", spec, err, want)
		}
	}
}
