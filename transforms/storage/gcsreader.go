package storage

import (
	"context"
	"io"
)

func (s *gcsStore) Open(ctx context.Context, name string) (Reader, error) {
	if _, err := s.object(name); err != nil {
		return nil, err
	}
	return s.openObject(ctx, s.prefix+name)
}

// openObject opens the object with the full name object in the store's bucket.
func (s *gcsStore) openObject(ctx context.Context, object string) (Reader, error) {
	obj := s.bucket.Object(object)
	uri := "gs://" + obj.BucketName() + "/" + object
	// The client retries the metadata call itself (RetryAlways policy).
	actx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
	a, err := obj.Attrs(actx)
	cancel()
	if err != nil {
		return nil, classify(err, "stat "+uri)
	}
	// Pin the generation: every range read sees the object that Attrs saw.
	obj = obj.Generation(a.Generation)
	return newRangeReader(ctx, uri, a.Size, s.o, func(ctx context.Context, p []byte, off int64) (int, error) {
		rr, err := obj.NewRangeReader(ctx, off, int64(len(p)))
		if err != nil {
			return 0, err
		}
		defer rr.Close()
		n, err := io.ReadFull(rr, p)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}), nil
}
