// Package models holds the networks: the UMT student ViT (models/vit), the CLIP teacher
// (models/clip) and the BERT text encoder, with weight loading from safetensors in OpenAI and
// Hugging Face naming. Models compute only through the kernels interface.
//
// It may import kernels and nothing else of ours.
package models
