// Package storage is one small interface, Store, over a local directory and a gs://bucket/prefix,
// so the shard writer and reader, the index and the CLI never care where a dataset lives.
//
// Writes are staged and published atomically: Create returns a Writer that stages the bytes
// in a local file (beside the target on local disk, in a temp dir for gs://), the caller may
// read the staged file back to verify it, and Commit publishes it in one step — a no-overwrite
// hard link (or rename) on local disk, a single object upload on GCS, optionally with a
// does-not-exist precondition. Nobody ever sees a half-written object under its final name;
// a crashed writer leaves only hidden ".tmp-" files, which List never returns.
//
// Every remote call has a deadline (Options.OpTimeout, Options.UploadTimeout) and is retried
// with exponential backoff on transient errors (HTTP 429/5xx, cut connections): metadata calls
// and range reads by the GCS client and by this package, uploads as a whole from the staged
// file, so a retried upload can never leave a partial object. An upload whose precondition
// fails because an earlier attempt of the same upload already landed (same CRC32C and size) is
// a success, which makes Commit idempotent.
//
// Stores are safe for concurrent use.
//
// Open(ctx, "gs://bucket/prefix") uses Application Default Credentials, or the emulator named
// by STORAGE_EMULATOR_HOST (tests run fake-gcs-server in-process). Object names are
// slash-separated paths relative to the store's root.
package storage
