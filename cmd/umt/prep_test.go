package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
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
