package lint

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

// TestHouseRules checks every Go file of the repository against the house rules and runs
// go vet over the module. Each failure prints the rule and the fix.
func TestHouseRules(t *testing.T) {
	root := testenv.RepoRoot(t)
	var files int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, v := range CheckSource(filepath.ToSlash(rel), src) {
			t.Error(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("walked only %d Go files under %s; is the walk broken?", files, root)
	}

	t.Run("vet", func(t *testing.T) {
		if testing.Short() {
			t.Skip("go vet over the module skipped in -short mode")
		}
		cmd := exec.Command("go", "vet", "./...")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("[go-vet] go vet ./... failed; fix each report below (run `go vet ./...` locally):\n%s", out)
		}
	})
}

// TestRulesCatchBadSnippets shows every rule firing on a file that breaks it, and staying
// quiet where the same import is allowed.
func TestRulesCatchBadSnippets(t *testing.T) {
	const beam = `"github.com/apache/beam/sdks/v2/go/pkg/beam"`
	tests := []struct {
		name, file, src string
		want            string // rule id expected; "" means no violation
	}{
		{"beam in models", "models/vit/x.go", imp(beam), "beam-only-in-pipelines"},
		{"beam in training", "training/x.go", imp(beam), "beam-only-in-pipelines"},
		{"beam in transforms test", "transforms/shard/x_test.go", imp(beam), "beam-only-in-pipelines"},
		{"beam in pipelines ok", "pipelines/prep/x.go", imp(beam), ""},
		{"beam in runners ok", "runners/x.go", imp(beam), ""},
		{"beam in cmd ok", "cmd/umt/x.go", imp(beam), ""},
		{"purego in kernels/cpu", "kernels/cpu/x.go", imp(`"github.com/ebitengine/purego"`), "gpu-only-in-kernels-cuda"},
		{"purego in kernels/cuda ok", "kernels/cuda/x.go", imp(`"github.com/ebitengine/purego"`), ""},
		{"cgo cuda outside", "models/clip/x.go", "package x\n\n// #cgo LDFLAGS: -lcublas\nimport \"C\"\n", "gpu-only-in-kernels-cuda"},
		{"cgo openblas ok", "kernels/cpu/x.go", "package x\n\n// #cgo LDFLAGS: -lopenblas\nimport \"C\"\n", ""},
		{"cgo faiss outside", "transforms/shard/x.go", "package x\n\n// #cgo LDFLAGS: -lfaiss\nimport \"C\"\n", "faiss-only-in-transforms-index"},
		{"cgo faiss in transforms/index ok", "transforms/index/x.go", "package x\n\n// #cgo LDFLAGS: -lfaiss\nimport \"C\"\n", ""},
		{"astiav in pipelines", "pipelines/prep/x.go", imp(`"github.com/asticode/go-astiav"`), "astiav-only-in-transforms-video"},
		{"astiav in video ok", "transforms/video/x.go", imp(`"github.com/asticode/go-astiav"`), ""},
		{"kernels imports models", "kernels/cpu/x.go", imp(`"github.com/umt-dev/umt/models/clip"`), "kernels-import-nothing-of-ours"},
		{"kernels/cpu imports kernels ok", "kernels/cpu/x.go", imp(`"github.com/umt-dev/umt/kernels"`), ""},
		{"transforms imports models", "transforms/shard/x.go", imp(`"github.com/umt-dev/umt/models/clip"`), "transforms-below-models"},
		{"schemas imports training", "schemas/x.go", imp(`"github.com/umt-dev/umt/training"`), "transforms-below-models"},
		{"transforms imports schemas ok", "transforms/shard/x.go", imp(`"github.com/umt-dev/umt/schemas"`), ""},
		{"models imports training", "models/vit/x.go", imp(`"github.com/umt-dev/umt/training"`), "models-import-only-kernels"},
		{"models imports transforms", "models/clip/x.go", imp(`"github.com/umt-dev/umt/transforms/video"`), "models-import-only-kernels"},
		{"models imports kernels ok", "models/vit/x.go", imp(`"github.com/umt-dev/umt/kernels"`), ""},
		{"pipelines import training", "pipelines/prep/x.go", imp(`"github.com/umt-dev/umt/training/stage1"`), "pipelines-import-no-training"},
		{"pipelines test imports training", "pipelines/export/x_test.go", imp(`"github.com/umt-dev/umt/training"`), "pipelines-import-no-training"},
		{"pipelines import transforms/masks ok", "pipelines/prep/x.go", imp(`"github.com/umt-dev/umt/transforms/masks"`), ""},
		{"cmd imports training ok", "cmd/umt/x.go", imp(`"github.com/umt-dev/umt/training/stage1"`), ""},
		{"library imports cmd", "training/x.go", imp(`"github.com/umt-dev/umt/cmd/umt"`), "nothing-imports-cmd"},
		{"not gofmt", "schemas/x.go", "package x\nfunc  F( ) {}\n", "gofmt"},
		{"does not parse", "schemas/x.go", "package x\nfunc {\n", "parses"},
		{"tools pin file exempt", "internal/tools/tools.go", imp(beam), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := CheckSource(tc.file, []byte(tc.src))
			if tc.want == "" {
				if len(vs) != 0 {
					t.Fatalf("want no violation, got %v", vs)
				}
				return
			}
			for _, v := range vs {
				if v.Rule == tc.want {
					if !strings.Contains(v.String(), tc.file) || len(v.Msg) < 20 {
						t.Fatalf("violation must name the file and say how to fix it: %q", v)
					}
					return
				}
			}
			t.Fatalf("want rule %q to fire, got %v", tc.want, vs)
		})
	}
}

// TestVetCatchesBadCode runs the same go vet invocation on a scratch module with a printf bug,
// so the vet half of the house rules is known to be able to fail.
func TestVetCatchesBadCode(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module scratch\n\ngo 1.26\n")
	write("x.go", "package scratch\n\nimport \"fmt\"\n\nfunc F() string { return fmt.Sprintf(\"%d\", \"not a number\") }\n")
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Sprintf") {
		t.Fatalf("go vet should reject a printf verb mismatch; err=%v output:\n%s", err, out)
	}
}

func imp(path string) string { return "package x\n\nimport _ " + path + "\n" }
