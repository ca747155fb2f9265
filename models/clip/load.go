package clip

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/umt-dev/umt/models/weights"
)

// LoadOptions complete a --teacher spec.
type LoadOptions struct {
	// Config holds values given as flags; nonzero fields override the config file's and must
	// agree with the weights' shapes.
	Config Config
	// ConfigFile is a config (Hugging Face config.json or this package's Config JSON) for a
	// weights file; a model directory's own config.json is read automatically.
	ConfigFile string
	// Hub fetches hf:NAME specs; nil means the default hub and cache (see weights.Hub).
	Hub *weights.Hub
}

// Load resolves a --teacher spec and loads the weights:
//
//   - "hf:owner/name": config.json and model.safetensors fetched from the Hugging Face hub into
//     the local cache (verified against the hub's checksums), then as a directory;
//   - a directory: a Hugging Face model directory holding config.json and model.safetensors;
//   - a file: a safetensors checkpoint in OpenAI naming (visual.* or stripped) or HF naming,
//     its architecture read from the tensor shapes, heads defaulting to width/64, the rest from
//     o.ConfigFile and o.Config.
//
// It returns the weights and the complete, validated config.
func Load(ctx context.Context, spec string, o LoadOptions) (*Weights, Config, error) {
	if name, ok := strings.CutPrefix(spec, "hf:"); ok {
		hub := o.Hub
		if hub == nil {
			hub = &weights.Hub{}
		}
		dir, err := hub.Fetch(ctx, name, "config.json", "model.safetensors")
		if err != nil {
			return nil, Config{}, fmt.Errorf("teacher %s: %w", spec, err)
		}
		spec = dir
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, Config{}, fmt.Errorf("teacher %q: %w (want hf:owner/name, a Hugging Face model directory or a safetensors file)", spec, err)
	}
	var fileCfg Config
	weightsPath := spec
	if st.IsDir() {
		cj := filepath.Join(spec, "config.json")
		if fileCfg, err = ReadConfigFile(cj); err != nil {
			return nil, Config{}, fmt.Errorf("teacher directory %s: %w (a Hugging Face model directory holds config.json and model.safetensors)", spec, err)
		}
		weightsPath = filepath.Join(spec, "model.safetensors")
	}
	if o.ConfigFile != "" {
		c, err := ReadConfigFile(o.ConfigFile)
		if err != nil {
			return nil, Config{}, err
		}
		fileCfg = fileCfg.Merge(c)
	}
	f, err := weights.Open(weightsPath)
	if err != nil {
		return nil, Config{}, fmt.Errorf("teacher weights: %w", err)
	}
	defer f.Close()
	w, cfg, err := FromFile(f, fileCfg.Merge(o.Config))
	if err != nil {
		return nil, Config{}, fmt.Errorf("%s: %w", weightsPath, err)
	}
	return w, cfg, nil
}
