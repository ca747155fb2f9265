// Package mmap maps whole files read-only, the zero-copy read under shard (Arrow IPC) and
// safetensors files; where the platform has no memory maps it reads the file instead.
package mmap
