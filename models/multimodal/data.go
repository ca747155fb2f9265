package multimodal

import "fmt"

// DataShape is what a dataset offers the evaluation path: its clips' frames and pixel size
// and, when it stores caption tokens (Vocab > 0), their tokenizer, vocabulary and length.
type DataShape struct {
	Frames, Size  int
	Tokenizer     string
	Vocab, MaxLen int
	// Command is whose --frames/--size flags fix a clip mismatch: "umt prep" when empty.
	Command string
}

// CheckData refuses a dataset whose clips or caption tokens the model cannot read, naming the
// umt prep setting that fixes it.
func (c Config) CheckData(d DataShape, name string) error {
	v := c.Vision
	cmd := d.Command
	if cmd == "" {
		cmd = "umt prep"
	}
	switch {
	case d.Vocab > 0 && d.Vocab != c.Text.Vocab:
		return fmt.Errorf("%s was tokenized with %s (%d ids), the checkpoint's text encoder has %d: prepare it again with the encoder's vocabulary: umt prep --tokenizer <its vocab.txt or hf:name>", name, d.Tokenizer, d.Vocab, c.Text.Vocab)
	case d.Vocab > 0 && d.MaxLen > c.Text.MaxPosition:
		return fmt.Errorf("%s stores captions of %d ids, the checkpoint's text encoder has %d positions: umt prep --max-text-len %d", name, d.MaxLen, c.Text.MaxPosition, c.Text.MaxPosition)
	case d.Frames != v.Frames && d.Frames != 1:
		return fmt.Errorf("%s has %d frames per clip, the checkpoint's encoder takes %d: %s --frames %d", name, d.Frames, v.Frames, cmd, v.Frames)
	case d.Size != v.ImgSize:
		return fmt.Errorf("%s has %d px frames, the checkpoint's encoder takes %d: %s --size %d", name, d.Size, v.ImgSize, cmd, v.ImgSize)
	}
	return nil
}
