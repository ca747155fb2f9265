// Package ckpt saves and restores stage-1 training state. A checkpoint is a directory
//
//	step-00001000/
//	  model.safetensors   the student in the official state-dict naming (loadable by PyTorch)
//	  optim.safetensors   AdamW moments, exp_avg.<name> and exp_avg_sq.<name>
//	  state.json          step, loader position, configs, sha256 of the two tensor files
//
// written under a temporary name, synced and renamed into place, after which the file
// `latest` (also replaced atomically) names it. A crash at any point leaves either the
// previous checkpoint or the new one, never a half one; Load verifies the checksums.
package ckpt
