// Package weights is the one safetensors codec: it decodes files ([Open], [Parse]) and encodes
// tensors ([Marshal], [Encode]; the caller writes the bytes, atomically, with
// transforms/storage.WriteFile), and fetches model files from the Hugging Face hub into a local
// cache with checksum verification. Tests read files as host slices with package weightstest.
//
// The reader validates everything a malformed or truncated file could get wrong (header length,
// JSON, dtypes, shapes against byte ranges, ranges against the file, overlaps) and names the
// offending tensor in its errors; it never panics on bad input (fuzzed in safetensors_test.go).
// Tensors convert to float32 from F32, F16 and BF16. Files are memory-mapped where the platform
// allows, so multi-GB checkpoints cost no copy until a tensor is converted.
//
// Model-specific name mapping (OpenAI vs Hugging Face CLIP names) lives with each model, e.g.
// models/clip.
package weights
