// Package lint holds the house rules of the repository as code: formatting, vet, and which
// packages may import Beam, CUDA/purego, go-astiav and each other (the layering in
// DESIGN.md). TestHouseRules in this package checks the whole tree; each violation names the
// rule and says how to fix it.
package lint

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"path"
	"strconv"
	"strings"
)

// Module is the module path of the repository.
const Module = "github.com/umt-dev/umt"

// Violation is one broken rule in one file.
type Violation struct {
	File string // slash-separated path relative to the repository root
	Rule string // short rule id, e.g. "beam-only-in-pipelines"
	Msg  string // what is wrong and how to fix it
}

func (v Violation) String() string { return fmt.Sprintf("%s: [%s] %s", v.File, v.Rule, v.Msg) }

// importRule restricts which directories may import packages with a given prefix.
type importRule struct {
	id       string
	prefixes []string // import paths (prefix match on path segments)
	allowed  []string // repo directories (prefix match) that may import them
	fix      string
}

// exempt directories: internal/tools only pins module versions (build tag "tools", never built).
var exempt = []string{"internal/tools"}

var importRules = []importRule{
	{
		id:       "beam-only-in-pipelines",
		prefixes: []string{"github.com/apache/beam"},
		allowed:  []string{"pipelines", "runners", "cmd"},
		fix:      "Beam may be imported only in pipelines/, runners/ and cmd/; move the Beam code there and keep this package Beam-free (a plain function the DoFn calls)",
	},
	{
		id:       "gpu-only-in-kernels-cuda",
		prefixes: []string{"github.com/ebitengine/purego", "gorgonia.org/cu"},
		allowed:  []string{"kernels/cuda"},
		fix:      "CUDA and purego belong in kernels/cuda only; call the GPU through the kernels.Backend interface instead",
	},
	{
		id:       "astiav-only-in-transforms-video",
		prefixes: []string{"github.com/asticode/go-astiav", "github.com/asticode/go-astikit"},
		allowed:  []string{"transforms/video"},
		fix:      "go-astiav (cgo FFmpeg) may be imported only in transforms/video; use that package's API so everything else builds with CGO_ENABLED=0",
	},
	{
		id:       "kernels-import-nothing-of-ours",
		prefixes: []string{Module + "/"},
		allowed:  []string{"cmd", "pipelines", "runners", "training", "models", "transforms", "schemas", "internal", "bench"},
		fix:      "kernels/ is the bottom layer and imports nothing of ours; pass data in through the kernels interface",
	},
	{
		id: "transforms-below-models",
		prefixes: []string{Module + "/models", Module + "/kernels", Module + "/training",
			Module + "/pipelines", Module + "/runners", Module + "/cmd"},
		allowed: []string{"cmd", "pipelines", "runners", "training", "models", "kernels", "internal", "bench"},
		fix:     "transforms/ and schemas/ may import only schemas and other transforms (DESIGN.md layering); move the dependency up into pipelines/ or training/",
	},
	{
		id:       "models-import-only-kernels",
		prefixes: []string{Module + "/training", Module + "/pipelines", Module + "/runners", Module + "/cmd", Module + "/transforms"},
		allowed:  []string{"cmd", "pipelines", "runners", "training", "transforms", "schemas", "kernels", "internal", "bench"},
		fix:      "models/ may import only kernels (and other models); data loading and training logic belong in training/ or pipelines/",
	},
	{
		id:       "pipelines-import-no-training",
		prefixes: []string{Module + "/training"},
		allowed:  []string{"cmd", "training", "internal", "bench"},
		fix:      "pipelines are thin Beam wrappers over transforms and models and import no training; move the shared code down into transforms/ (as transforms/masks) or models/",
	},
	{
		id:       "nothing-imports-cmd",
		prefixes: []string{Module + "/cmd"},
		allowed:  []string{"cmd"},
		fix:      "cmd/ is the top of the tree; move the shared code into a library package",
	},
}

// under reports whether dir is d or below it.
func under(dir, d string) bool { return dir == d || strings.HasPrefix(dir, d+"/") }

func importMatches(imp, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(imp, prefix)
	}
	return imp == prefix || strings.HasPrefix(imp, prefix+"/")
}

// CheckSource applies the file-level rules (formatting, imports, cgo CUDA use) to one Go
// file whose repository-relative path is file.
func CheckSource(file string, src []byte) []Violation {
	var out []Violation
	dir := path.Dir(file)
	for _, e := range exempt {
		if under(dir, e) {
			return nil
		}
	}
	if formatted, err := format.Source(src); err != nil {
		out = append(out, Violation{file, "parses", "file does not parse: " + err.Error()})
		return out
	} else if !bytes.Equal(formatted, src) {
		out = append(out, Violation{file, "gofmt", "file is not gofmt-clean; run: gofmt -w " + file})
	}
	f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return append(out, Violation{file, "parses", err.Error()})
	}
	if !under(dir, "kernels/cuda") && cgoMentionsCUDA(cgoPreamble(f)) {
		out = append(out, Violation{file, "gpu-only-in-kernels-cuda", "cgo preamble links CUDA; CUDA belongs in kernels/cuda only, loaded at run time"})
	}
	if !under(dir, "transforms/index") && strings.Contains(strings.ToLower(cgoPreamble(f)), "faiss") {
		out = append(out, Violation{file, "faiss-only-in-transforms-index", "cgo preamble links FAISS; libfaiss belongs in transforms/index only (use its Build, Open and Search) so nothing else needs the library"})
	}
	for _, is := range f.Imports {
		imp, _ := strconv.Unquote(is.Path.Value)
		for _, r := range importRules {
			if !ruleApplies(r, dir) {
				continue
			}
			for _, p := range r.prefixes {
				if importMatches(imp, p) && !allowedIn(r, dir, imp) {
					out = append(out, Violation{file, r.id, fmt.Sprintf("imports %s: %s", imp, r.fix)})
				}
			}
		}
	}
	return out
}

// ruleApplies narrows the layering rules to the layer they protect.
func ruleApplies(r importRule, dir string) bool {
	switch r.id {
	case "kernels-import-nothing-of-ours":
		return under(dir, "kernels")
	case "transforms-below-models":
		return under(dir, "transforms") || under(dir, "schemas")
	case "models-import-only-kernels":
		return under(dir, "models")
	case "pipelines-import-no-training":
		return under(dir, "pipelines")
	}
	return true
}

func allowedIn(r importRule, dir, imp string) bool {
	switch r.id {
	case "kernels-import-nothing-of-ours":
		// kernels may import its own subpackages (kernels/cpu importing kernels).
		return strings.HasPrefix(imp, Module+"/kernels") || strings.HasPrefix(imp, Module+"/internal/")
	case "transforms-below-models", "models-import-only-kernels", "pipelines-import-no-training":
		return false
	}
	for _, a := range r.allowed {
		if under(dir, a) {
			return true
		}
	}
	return false
}

// cgoPreamble returns the comment above `import "C"` (on the spec or its declaration).
func cgoPreamble(f *ast.File) string {
	var b strings.Builder
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.IMPORT {
			continue
		}
		for _, sp := range gd.Specs {
			is := sp.(*ast.ImportSpec)
			if is.Path.Value != `"C"` {
				continue
			}
			b.WriteString(is.Doc.Text())
			b.WriteString(gd.Doc.Text())
		}
	}
	return b.String()
}

func cgoMentionsCUDA(preamble string) bool {
	p := strings.ToLower(preamble)
	return strings.Contains(p, "cuda") || strings.Contains(p, "cublas") || strings.Contains(p, "nvrtc")
}
