package main

import (
	"context"
	"fmt"
	"math"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/weights"
)

// textEncoder runs models/bert's text mode for inspect text --weights.
type textEncoder struct {
	spec   string
	loaded *bert.Loaded
	dev    *kernels.Device
	model  *bert.Model
}

// clsState is the text encoder's [CLS] output for one caption (UMT's pooled_text).
type clsState struct {
	Norm   float64   `json:"norm"`
	Mean   float64   `json:"mean"`
	Std    float64   `json:"std"`
	Values []float32 `json:"values"`
}

// textEncoderInfo is the header inspect text prints for --weights.
type textEncoderInfo struct {
	Spec        string      `json:"spec"`
	Source      string      `json:"source"`
	Config      bert.Config `json:"config"`
	Initialised []string    `json:"initialised,omitempty"`
	Backend     string      `json:"backend"`
}

// openTextEncoder loads --weights and checks it can read the tokenizer's ids at --max-text-len.
func openTextEncoder(ctx context.Context, f textFlags, vocabSize int) (*textEncoder, error) {
	l, err := bert.Load(ctx, f.weights, bert.LoadOptions{Heads: f.heads, Hub: &weights.Hub{}})
	if err != nil {
		return nil, err
	}
	c := l.Cfg
	switch {
	case c.Vocab != vocabSize:
		return nil, fmt.Errorf("--weights %s has a vocabulary of %d ids, the --tokenizer %s %d: give the tokenizer of these weights", f.weights, c.Vocab, f.tokenizer, vocabSize)
	case f.maxTextLen > c.MaxPosition:
		return nil, usagef("--max-text-len %d exceeds the encoder's %d positions: use --max-text-len %d", f.maxTextLen, c.MaxPosition, c.MaxPosition)
	}
	dev, err := kernels.Open(f.device, kernels.Options{Threads: f.threads})
	if err != nil {
		return nil, err
	}
	tr, err := dev.Trainer()
	if err != nil {
		dev.Close()
		return nil, err
	}
	m, err := bert.New(tr, c, l.Flat)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return &textEncoder{spec: f.weights, loaded: l, dev: dev, model: m}, nil
}

func (e *textEncoder) close() {
	e.model.Close()
	e.dev.Close()
}

func (e *textEncoder) describe() textEncoderInfo {
	src := "Hugging Face BERT"
	if e.loaded.Source == bert.UMT {
		src = "UMT stage-2 checkpoint"
	}
	return textEncoderInfo{Spec: e.spec, Source: src, Config: e.loaded.Cfg, Initialised: e.loaded.Initialised, Backend: e.dev.Backend.Name()}
}

// cls runs text mode on one tokenized caption and returns row 0 of its output.
func (e *textEncoder) cls(ids []int32, mask []int) (*clsState, error) {
	m32 := make([]int32, len(mask))
	for i, v := range mask {
		m32[i] = int32(v)
	}
	p, err := e.model.Text(bert.Text{B: 1, L: len(ids), IDs: ids, Mask: m32})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	H := e.model.Cfg.Hidden
	c := &clsState{Values: make([]float32, H)}
	if err := e.dev.Backend.Download(c.Values, p.Out().View(0, H)); err != nil {
		return nil, err
	}
	var s, s2 float64
	for _, v := range c.Values {
		s, s2 = s+float64(v), s2+float64(v)*float64(v)
	}
	c.Norm, c.Mean = math.Sqrt(s2), s/float64(H)
	c.Std = math.Sqrt(math.Max(0, s2/float64(H)-c.Mean*c.Mean))
	return c, nil
}
