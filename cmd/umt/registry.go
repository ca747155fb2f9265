package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Command is one subcommand, addressed by a path of words ("prep", "inspect video").
type Command struct {
	Path  string // words separated by one space, e.g. "inspect video"
	Short string // one line for the command list
	// Long is the help text printed above the flags by --help: what it does, and examples.
	Long string
	// Flags declares the command's flags on fs. Commands that run Beam pipelines declare
	// theirs on flag.CommandLine (Beam reads options from the global set) and set Global.
	Flags  func(fs *flag.FlagSet)
	Global bool
	// placeholder marks a command that only says it is not built yet.
	placeholder bool
	// Exec runs the command with the positional arguments left after flag parsing.
	Exec func(args []string) error
}

var commands = map[string]*Command{}

// register adds c; it is called from init functions. A later registration of the same path
// replaces an earlier one, so a placeholder can be overridden by the real command.
func register(c *Command) {
	if old, ok := commands[c.Path]; ok && !old.placeholder {
		panic("umt: two commands registered for " + c.Path)
	}
	commands[c.Path] = c
}

var stdout io.Writer = os.Stdout

// errHelpShown reports that --help was printed; the exit code is 0.
var errHelpShown = errors.New("help shown")

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

// usagef returns a usage error.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// lookup finds the longest registered path that prefixes args.
func lookup(args []string) (*Command, []string) {
	for n := len(args); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, nil
}

// Run parses flags and executes the command.
func (c *Command) Run(args []string) error {
	fs := flag.NewFlagSet("umt "+c.Path, flag.ContinueOnError)
	if c.Global {
		fs = flag.CommandLine
		fs.Init("umt "+c.Path, flag.ContinueOnError)
	}
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printHelp(stdout, fs)
			return errHelpShown
		}
		return usageError{err}
	}
	if c.Exec == nil {
		c.printHelp(stdout, fs)
		return errHelpShown
	}
	return c.Exec(fs.Args())
}

func (c *Command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "umt %s — %s\n\n", c.Path, c.Short)
	if c.Long != "" {
		fmt.Fprintln(w, strings.TrimSpace(c.Long))
		fmt.Fprintln(w)
	}
	if subs := children(c.Path); len(subs) > 0 {
		fmt.Fprintln(w, "Subcommands:")
		for _, s := range subs {
			fmt.Fprintf(w, "  %-22s %s\n", s.Path, s.Short)
		}
		fmt.Fprintln(w)
	}
	var n int
	if fs != nil {
		fs.VisitAll(func(*flag.Flag) { n++ })
	}
	if n > 0 {
		fmt.Fprintln(w, "Flags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// children lists the commands one word below path ("" for the top level).
func children(path string) []*Command {
	var out []*Command
	depth := 0
	if path != "" {
		depth = len(strings.Fields(path))
	}
	for p, c := range commands {
		words := strings.Fields(p)
		if len(words) == depth+1 && (path == "" || strings.HasPrefix(p, path+" ")) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `umt — preprocess video corpora into training-ready shards with CLIP teacher features,
train UMT students from them, and export embeddings.

Usage:
  umt <command> [flags] [args]
  umt <command> --help

Commands:
`)
	for _, c := range children("") {
		fmt.Fprintf(w, "  %-10s %s\n", c.Path, c.Short)
		for _, s := range children(c.Path) {
			fmt.Fprintf(w, "    %-20s %s\n", strings.TrimPrefix(s.Path, c.Path+" "), s.Short)
		}
	}
	fmt.Fprint(w, `
Examples:
  umt prep --manifest testdata/sample/manifest.jsonl --out /tmp/ds   # local run on Prism
  umt inspect video testdata/videos/synthetic/*.mp4                  # probe videos as JSON lines
  umt version
`)
}

// notBuilt is the Exec of a command whose implementation has not landed yet: it says so and
// fails, rather than pretending to work.
func notBuilt(what string) func([]string) error {
	return func([]string) error {
		return fmt.Errorf("%s is not built yet in this version of umt; it lands with a later issue (see the README)", what)
	}
}
