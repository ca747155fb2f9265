// Package bert is UMT's stage-2 text and fusion encoder (UMT.md §2.4): the BERT of the
// official xbert.py as BertForMaskedLM, post-LN layers (LayerNorm eps 1e-12, exact GELU), run
// in two modes. Text mode embeds the ids (word + token type 0 + absolute position, LayerNorm)
// and runs layers [0, FusionLayer) with the additive padding mask (1 − m)·−10000; its output is
// text_embeds. Fusion mode takes those embeddings (no embedding layer) through layers
// [FusionLayer, Layers), each with a cross-attention block after self-attention whose keys and
// values are Linear(EncoderWidth → Hidden) of the vision tokens (masked, when a mask is given,
// with invert_attention_mask's (1 − m)·finfo(float32).min; UMT always passes all ones). The MLM
// head (cls.predictions: dense → GELU → LayerNorm → decoder tied to the word embeddings, plus
// cls.predictions.bias) and its cross-entropy with ignore index −100 run only at the labelled
// positions.
//
// Forward and backward run through kernels.Trainer on backend-owned buffers, as the stage-1
// student (models/vit) does. Parameters and gradients are two flat allocations, decayed
// tensors first; the decoder shares the word-embedding table, so its gradient and the
// embedding's sum in one place. Each call (Text, Fusion, MLM) returns a pass that owns its
// activations and, after Backward, the gradients of its inputs (DIn, DVision, DHidden), so a
// stage-2 step can chain text → fusion → heads and back-propagate into the vision encoder;
// Close frees a pass, and with every pass and the model closed the backend holds nothing.
//
// Weights come from a Hugging Face bert-base/large-uncased checkpoint (BertForMaskedLM names,
// "bert." optional; the cross-attention blocks it lacks are initialised as
// BertPreTrainedModel._init_weights does: normal std 0.02 from a seeded SplitMix64/Box–Muller
// generator, biases 0, LayerNorm 1/0) or from a UMT stage-2 state dict (text_encoder.* names, the
// tied decoder stored once). Dropout is not applied (UMT's references run without it).
package bert
