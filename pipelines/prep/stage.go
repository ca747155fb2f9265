package prep

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// stagingDir holds the finished rows of one configuration (its provenance hash), so staged rows
// of a different configuration are never mixed in.
func stagingDir(c Plan) string {
	b, _ := json.Marshal(c.Provenance)
	h := sha256.Sum256(b)
	return "_staging/" + hex.EncodeToString(h[:8])
}

func stagingName(c Plan, clipID string) string { return stagingDir(c) + "/" + clipID + ".arrow" }

// stageRow publishes row as a one-row Arrow IPC file under its clip id, atomically.
func stageRow(ctx context.Context, st storage.Store, c Plan, row schemas.ClipRow) error {
	data, err := shard.EncodeRow(c.Provenance, row)
	if err != nil {
		return err
	}
	if err := storage.Put(ctx, st, stagingName(c, row.ClipID), data, storage.CreateOptions{}); err != nil && !errors.Is(err, storage.ErrExists) {
		return err
	}
	return nil
}

// readStaged reads a staged row back (a deep copy, independent of the file) through shard's
// checked reader.
func readStaged(ctx context.Context, st storage.Store, c Plan, clipID string) (schemas.ClipRow, error) {
	r, err := st.Open(ctx, stagingName(c, clipID))
	if err != nil {
		return schemas.ClipRow{}, err
	}
	defer r.Close()
	data := make([]byte, r.Size())
	if _, err := r.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return schemas.ClipRow{}, err
	}
	row, err := shard.DecodeRow(c.Provenance, data)
	if err != nil {
		return schemas.ClipRow{}, fmt.Errorf("staged clip %s is unreadable (%w); delete %s and rerun", clipID, err, stagingName(c, clipID))
	}
	return row, nil
}

// localTeacher returns a local path of the teacher weights: a local file as it is; a remote one
// (gs://, https://) downloaded once per process into the temp directory through storage,
// verified against the sha256 the launcher computed, and written atomically.
func localTeacher(ctx context.Context, c Plan) (string, error) {
	if storage.IsLocal(c.Teacher) {
		return storage.LocalPath(c.Teacher)
	}
	path := filepath.Join(os.TempDir(), "umt-teacher-"+c.TeacherSHA256+".safetensors")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	r, err := storage.Open(ctx, c.Teacher)
	if err != nil {
		return "", fmt.Errorf("opening the teacher %s: %w", c.Teacher, err)
	}
	defer r.Close()
	err = storage.Write(ctx, path, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), io.NewSectionReader(r, 0, r.Size())); err != nil {
			return fmt.Errorf("downloading the teacher %s: %w", c.Teacher, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); c.TeacherSHA256 != "" && got != c.TeacherSHA256 {
			return fmt.Errorf("the teacher %s changed since the job started (sha256 %s, expected %s)", c.Teacher, got, c.TeacherSHA256)
		}
		return nil
	})
	return path, err
}
