//go:build !unix

package mmap

import "os"

// File reads the whole file where memory maps are not available; release is a no-op.
func File(path string) (data []byte, release func() error, err error) {
	if data, err = os.ReadFile(path); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
