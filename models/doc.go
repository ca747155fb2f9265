// Package models holds the networks: the UMT student ViT (models/vit), the CLIP teacher
// (models/clip) and the BERT text encoder, with weight loading from safetensors in OpenAI and
// Hugging Face naming. Models compute only through the kernels interface. This package holds
// what the teacher and the student share: Linear (forward and gradient) and ReturnedBlocks, the
// official rule for which blocks' outputs are aligned (clip_return_interval and
// clip_student_return_interval).
//
// It may import kernels and nothing else of ours.
package models
