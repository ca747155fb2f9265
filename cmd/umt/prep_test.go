package main

import (
	"flag"
	"io"
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
