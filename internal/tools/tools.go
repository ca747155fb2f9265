//go:build tools

// Package tools pins the module versions DEPENDENCIES.md recommends before every package that
// uses them has landed, so `go mod tidy` keeps them. It is never built.
package tools

import (
	_ "cloud.google.com/go/storage"
	_ "github.com/apache/arrow-go/v18/arrow/ipc"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	_ "github.com/asticode/go-astiav"
	_ "github.com/ebitengine/purego"
	_ "github.com/fsouza/fake-gcs-server/fakestorage"
	_ "github.com/nlpodyssey/safetensors"
	_ "github.com/vbauerster/mpb/v8"
	_ "github.com/x448/float16"
)
