package stage1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/umt-dev/umt/configs"
	"github.com/umt-dev/umt/schemas"
)

// Recipe is a config and the fields its user chose: the keys a config file wrote and every
// --set override (dotted JSON names, "model.return_layers"). FitDataset leaves chosen fields
// alone; a preset's own values give way to what the dataset fixes.
type Recipe struct {
	Config Config
	Chosen map[string]bool
}

// LoadRecipe reads --config (a preset name or a JSON file) and applies the --set overrides in
// order ("key=value", value as JSON or a bare string).
func LoadRecipe(config string, sets []string) (Recipe, error) {
	r := Recipe{Chosen: map[string]bool{}}
	var err error
	if r.Config, err = LoadConfig(config); err != nil {
		return r, err
	}
	if _, perr := configs.Preset(config); perr != nil { // a file: its keys are the user's
		b, _ := os.ReadFile(config)
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			delete(m, "preset")
			for _, k := range flatKeys("", m) {
				r.Chosen[k] = true
			}
		}
	}
	for _, kv := range sets {
		key, err := r.Config.Set(kv)
		if err != nil {
			return r, err
		}
		r.Chosen[key] = true
	}
	return r, r.Config.Validate()
}

// flatKeys lists the dotted paths of the leaves of m.
func flatKeys(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out = append(out, flatKeys(prefix+k+".", sub)...)
		} else {
			out = append(out, prefix+k)
		}
	}
	return out
}

// Set applies one "key=value" override to c and returns the key. Keys are the config's JSON
// names, dotted into objects (model.depth, optim.weight_decay); the value is JSON (numbers,
// true/false, quoted strings) or else taken as a string.
func (c *Config) Set(kv string) (string, error) { return SetField(c, "stage1", kv) }

// SetField applies one "key=value" override to any JSON-tagged config struct *c (the same
// rules as Config.Set); pkg prefixes its errors.
func SetField[T any](c *T, pkg, kv string) (string, error) {
	key, val, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return "", fmt.Errorf(pkg+": --set %q: want key=value, e.g. --set batch_size=4 or --set model.depth=6", kv)
	}
	parts := strings.Split(key, ".")
	t := reflect.TypeOf(*c)
	for i, p := range parts {
		here := strings.Join(parts[:i], ".")
		if t.Kind() != reflect.Struct {
			return key, fmt.Errorf(pkg+": --set %s: %s is not an object", key, here)
		}
		f, ok := jsonField(t, p)
		if !ok || (i == 0 && p == "preset") {
			return key, fmt.Errorf(pkg+": --set %s: no field %q; fields here are %s", key, strings.Join(parts[:i+1], "."), strings.Join(jsonFields(here, t), ", "))
		}
		t = f.Type
	}
	if t.Kind() == reflect.Struct {
		return key, fmt.Errorf(pkg+": --set %s: %s is an object; set one of its fields: %s", key, key, strings.Join(jsonFields(key, t), ", "))
	}
	raw := []byte(val)
	if !json.Valid(raw) {
		raw, _ = json.Marshal(val)
	}
	patch := json.RawMessage(raw)
	for i := len(parts) - 1; i >= 0; i-- {
		patch, _ = json.Marshal(map[string]json.RawMessage{parts[i]: patch})
	}
	nc := *c // decoding into a copy overwrites only the patched field
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nc); err != nil {
		return key, fmt.Errorf(pkg+": --set %s=%s: %v", key, val, err)
	}
	*c = nc
	return key, nil
}

// jsonField finds the field of struct type t whose JSON name is name.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); jsonName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// jsonFields lists the dotted JSON names of t's fields under prefix, sorted.
func jsonFields(prefix string, t reflect.Type) []string {
	if prefix != "" {
		prefix += "."
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if n := jsonName(t.Field(i)); n != "" && n != "-" && !(prefix == "" && n == "preset") {
			out = append(out, prefix+n)
		}
	}
	slices.Sort(out)
	return out
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if n == "" {
		n = f.Name
	}
	return n
}

// FitDataset sets the fields a dataset's provenance fixes and the user did not choose: the
// aligned layers (model.return_layers = the stored teacher layers), the heads' output
// (model.clip_dim = the teacher's dim), the mask ratio the dataset was drawn with, and a mask
// mode its layout supports (a visible:M dataset stores no feature at masked tokens, so "sample"
// becomes "among"). It returns one line per change, for the log. Fields that shape the input
// (frames, img_size, patch) are never changed: CheckDataset names the override instead.
func (r *Recipe) FitDataset(p schemas.Provenance) []string {
	if !p.HasTeacher() {
		return nil
	}
	var notes []string
	fit := func(key string, field *int, v int, why string) {
		if *field != v && !r.Chosen[key] {
			notes = append(notes, fmt.Sprintf("%s %d → %d (%s)", key, *field, v, why))
			*field = v
		}
	}
	m := &r.Config.Model
	if p.K <= m.Depth {
		fit("model.return_layers", &m.ReturnLayers, p.K, fmt.Sprintf("the dataset stores %d teacher layers", p.K))
	}
	fit("model.clip_dim", &m.ClipDim, p.D, fmt.Sprintf("the teacher's features have %d dims", p.D))
	if r.Config.MaskRatio != p.MaskRatio && p.MaskRatio > 0 && !r.Chosen["mask_ratio"] {
		notes = append(notes, fmt.Sprintf("mask_ratio %v → %v (the dataset's)", r.Config.MaskRatio, p.MaskRatio))
		r.Config.MaskRatio = p.MaskRatio
	}
	if lay, err := schemas.ParseLayout(p.Layout); err == nil && lay.Visible && r.Config.Masks == MasksSample && !r.Chosen["masks"] {
		notes = append(notes, fmt.Sprintf("masks %s → %s (layout %s stores features at the visible tokens only)", MasksSample, MasksAmong, p.Layout))
		r.Config.Masks = MasksAmong
	}
	return notes
}
