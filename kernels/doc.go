// Package kernels is the compute backend: one interface for the tensor operations the CLIP
// teacher, the student ViT and the text model need, with a portable CPU implementation
// (kernels/cpu, always built, the reference) and a CUDA one (kernels/cuda, loaded at run time,
// no CUDA needed to build).
//
// It imports nothing of ours. CUDA and purego appear only in kernels/cuda.
package kernels
