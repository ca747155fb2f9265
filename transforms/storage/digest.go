package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// FileSHA256 returns the hex sha256 of the file at uri (any URI Open opens): how a
// dataset or an export names the weights that made it.
func FileSHA256(ctx context.Context, uri string) (string, error) {
	r, err := Open(ctx, uri)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, r.Size())); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
