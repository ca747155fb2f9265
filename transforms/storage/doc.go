// Package storage is the one way this project opens and writes data by URI.
//
// Open(ctx, uri) opens one file for random-access reads (io.ReaderAt and Size) whatever
// holds it: a local path, file:///path (percent-encoded, so any file name has a URI),
// gs://bucket/object or an http(s) URL. WriteFile(ctx, uri, data) and Write(ctx, uri, fn)
// write one file atomically: temp file and rename on local disk, one upload on GCS (an object
// appears only when complete). An http(s) server that ignores Range (answers 200 with the whole
// body, as Python's http.server does) is read once into an unlinked temporary file of at most
// Options.MaxDownload bytes; the file is never taken for a short one.
//
// Errors say whose fault a failure is: ErrNotExist only for a definite absence (no such file or
// object, HTTP 404 or 410); ErrUnavailable for what may pass and persisted through every retry
// (refused, cut or timed-out connections, HTTP 408, 429, 5xx); ErrDenied for other refusals
// (401, 403, other 4xx); ErrTooLarge past the download cap; ErrInvalidURI for a URI no opener
// takes.
//
// Store is one small interface over a local directory and a gs://bucket/prefix, so the shard
// writer and reader, the index and the CLI never care where a dataset lives.
//
// Writes are staged and published atomically: Create returns a Writer that stages the bytes
// in a local file (beside the target on local disk, in a temp dir for gs://), the caller may
// read the staged file back to verify it, and Commit publishes it in one step — a no-overwrite
// hard link (or rename) on local disk, a single object upload on GCS, optionally with a
// does-not-exist precondition. Nobody ever sees a half-written object under its final name;
// a crashed writer leaves only hidden ".tmp-" files, which List never returns.
//
// Every remote call has a deadline (Options.OpTimeout, Options.UploadTimeout,
// Options.DownloadTimeout) and is retried with exponential backoff on transient errors (HTTP
// 408/429/5xx, cut or refused connections): metadata calls and range reads (GCS and HTTP) by
// the GCS client and by this package, uploads as a whole from the staged
// file, so a retried upload can never leave a partial object. An upload whose precondition
// fails because an earlier attempt of the same upload already landed (same CRC32C and size) is
// a success, which makes Commit idempotent.
//
// Stores are safe for concurrent use.
//
// OpenStore(ctx, "gs://bucket/prefix") uses Application Default Credentials, or the emulator named
// by STORAGE_EMULATOR_HOST (tests run fake-gcs-server in-process). Object names are
// slash-separated paths relative to the store's root.
package storage
