// Package kernels is the compute backend: one interface for the tensor operations the CLIP
// teacher, the student ViT and the text model need, with a portable CPU implementation
// (kernels/cpu, always built, the reference) and a CUDA one (kernels/cuda, loaded at run time,
// no CUDA needed to build).
//
// It imports nothing of ours. CUDA and purego appear only in kernels/cuda.
//
// # Opening a backend
//
// [Open] is the one device opener: it turns a --device spec ("auto", "cpu", "cuda", "cuda:N")
// and [Options] (threads, GEMM precision) into a [Device]. The backends register themselves
// ([Register]) when their package is linked, because they import this package and so cannot be
// imported by it; a program's main package links them with blank imports.
//
// # Memory
//
// Every operation works on backend-owned memory, never on Go slices, so that the same model code
// runs on host memory (cpu) and device memory (cuda). A [Buf] is a view: a contiguous range of
// elements of one allocation. The caller allocates with [Backend.Alloc] (float32) or
// [Backend.AllocIndex] (int32, for gathers and scatters) and releases with [Backend.Free], which
// takes the Buf returned by Alloc (not a view of it). Views ([Buf.View]) share the memory of their
// parent and are never freed themselves; they let a model address a slice of a larger buffer (one
// layer's output inside a stacked [K, ...] tensor, the q part of a packed qkv) without copies.
// Host data moves in and out with [Backend.Upload] and [Backend.Download]. Operations never
// allocate memory visible to the caller; output buffers are provided by the caller.
//
// # Layout and shapes
//
// Tensors are row-major (C order) float32. Shapes are given in the method docs with the innermost
// dimension last, e.g. x [rows, dim]. A "row stride" (ld) is the distance in elements between the
// starts of consecutive rows, as in BLAS; it is at least the row length. Unless a method says
// otherwise, an output may alias its input exactly (in-place), but must not partially overlap it.
//
// # Errors and ordering
//
// Operations are issued in order and may run asynchronously (cuda). They do not return errors:
// a backend checks arguments (lengths against views, shapes) and records the first failure;
// [Backend.Sync] waits for the issued work and returns that error (and clears it). An operation
// issued after a failure is skipped. Download synchronises implicitly and also reports the pending
// error. Misusing a view (View out of range) panics like a slice expression does: it is a
// programming error, not bad input.
//
// # Concurrency
//
// A Backend value is used by one goroutine at a time; implementations parallelise each operation
// internally. Use one Backend (or one model object holding it) per goroutine.
//
// # Extensions
//
// The interface is split: [Backend] holds memory management and the forward operations. Backward
// passes are defined by a separate interface in this package (a Backend extension) and implemented
// by the backends in their own files, so forward and backward code evolve independently.
package kernels
