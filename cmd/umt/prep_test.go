package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/pipelines/prep"
)

// Each prep phase refuses the flags it would otherwise ignore, naming them; flags that phase
// uses, and every flag in a one-pass run, are accepted.
func TestPrepPhaseFlags(t *testing.T) {
	prepCmd := commands["prep"]
	if prepCmd == nil {
		t.Fatal("no prep command registered")
	}
	cases := []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"--phase=teacher", "--input=f", "--teacher=t", "--frames=16", "--seed=3"}, "drop --frames --seed"},
		{[]string{"--phase=teacher", "--input=f", "--teacher=t", "--device=cpu", "--layout=full"}, ""},
		{[]string{"--phase=frames", "--input=m.csv", "--teacher=t", "--layout=full"}, "drop --layout --teacher"},
		{[]string{"--phase=frames", "--input=m.csv", "--frames=16", "--sampler=rand"}, ""},
		{[]string{"--phase=frames", "--input=m.csv", "--teacher-interval=2"}, "drop --teacher-interval"},
		{[]string{"--input=m.csv", "--teacher=t", "--frames=16", "--layout=full"}, ""},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("prep", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		prepCmd.Flags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		err := phaseFlags(fs.Lookup("phase").Value.String(), fs.Visit)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v, want accepted", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// --teacher-interval is UMT's clip_return_interval (a float) for the stored teacher layers.
func TestPrepTeacherInterval(t *testing.T) {
	fs := flag.NewFlagSet("prep", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	commands["prep"].Flags(fs)
	if err := fs.Parse([]string{"--input=m.csv", "--teacher=t", "--teacher-layers=3", "--teacher-interval=1.5"}); err != nil {
		t.Fatal(err)
	}
	tc := prepFlags.cfg.TeacherConfig
	tc.Layers = 12
	if got := tc.ReturnIndices(); !slices.Equal(got, []int{8, 10, 11}) {
		t.Errorf("--teacher-layers=3 --teacher-interval=1.5 of 12 blocks stores blocks %v, want [8 10 11]", got)
	}
}

// prep refuses a dataset no student can train on before decoding a video: --size 32 with the
// tiny teacher's 4×4 grid at 64 px is fine, with its default 224 px (14×14) it is not.
func TestPrepRefusesAnUntrainableGrid(t *testing.T) {
	saved := prepFlags // other tests' prep runs leave values on the global flags
	defer func() { prepFlags = saved }()
	prepFlags.cfg = prep.Defaults()
	out := filepath.Join(t.TempDir(), "ds")
	teacher := filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors")
	var code int
	stderr := captureStderr(t, func() {
		code, _ = capture(t, "prep", "--input", testenv.Testdata(t, "sample", "manifest.jsonl"), "--output", out,
			"--teacher", teacher, "--size", "32", "--frames", "4", "--progress", "off")
	})
	if code == 0 || !strings.Contains(stderr, "no student can train on it") || !strings.Contains(stderr, "64 (grid 4, student patch 8)") {
		t.Fatalf("exit %d, stderr %q; want a refusal naming --teacher-resolution 64 among the fixes", code, stderr)
	}
	if ents, _ := os.ReadDir(out); len(ents) > 0 {
		t.Errorf("the refused run wrote %d entries to %s", len(ents), out)
	}
}
