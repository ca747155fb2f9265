// Package text cleans and tokenizes captions exactly as UMT's stage 2 does, in pure Go.
//
// PreText is the caption cleaning the official caption datasets apply before tokenizing
// (Python's whole-string lower(), a fixed set of punctuation removed, '-' and '/' to spaces,
// "<person>" to "person", runs of whitespace collapsed, optional word truncation).
//
// Tokenizer is the uncased BERT WordPiece tokenizer the official code loads from
// bert-base-uncased, reproduced character for character: special tokens ([CLS], [SEP], [PAD],
// [UNK], [MASK]) are kept whole wherever they occur, every other character is lower-cased on its
// own (so a capital sigma is always σ), control characters are dropped, CJK ideographs become
// words of their own, accents are stripped (NFD, marks removed), punctuation is split off and
// every word is split greedily into the longest vocabulary pieces ("##" continuation pieces;
// [UNK] for a word with no split or longer than 100 characters).
//
// EncodeInto writes the model input the way the official repository builds it: [CLS] followed
// by the wordpieces, with NO [SEP] (its build_inputs_with_special_tokens was changed), cut to
// maxLen−1 wordpieces, right-padded with [PAD], attention mask 1 on [CLS] and the wordpieces.
// It allocates nothing per call in steady state and is safe for concurrent use.
//
// Vocab reads a BERT vocab.txt (one token per line, id = line number) from a path, a Hugging
// Face model directory, any URI transforms/storage opens, or hf:NAME through a caller-provided
// hub (models/weights.Hub satisfies Hub; this package may not import models).
package text
