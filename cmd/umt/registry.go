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
	// Aliases maps an old flag spelling to the flag that replaced it (e.g. "on_missing" →
	// "on-missing"): it still parses, and --help lists only the current name.
	Aliases map[string]string
	// group marks a command that only lists its subcommands.
	group bool
	// Exec runs the command with the positional arguments left after flag parsing.
	Exec func(args []string) error
}

var commands = map[string]*Command{}

// register adds c; it is called from init functions.
func register(c *Command) {
	if _, ok := commands[c.Path]; ok {
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
		fs = freshGlobalFlags("umt " + c.Path)
	}
	if c.Flags != nil {
		c.Flags(fs)
	}
	if err := c.declareAliases(fs); err != nil {
		return err
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
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
	return c.Exec(pos)
}

// initFlags are the flags packages declared on the global set at init (Beam's runner options),
// captured before the first Global command adds its own.
var initFlags []*flag.Flag

// freshGlobalFlags replaces flag.CommandLine by a set holding only the init-time flags, so each
// Global command (prep, export) declares its own --input, --output, ... even when another ran
// earlier in the process (tests), and Beam still reads its options from the global set.
func freshGlobalFlags(name string) *flag.FlagSet {
	if initFlags == nil {
		flag.CommandLine.VisitAll(func(f *flag.Flag) { initFlags = append(initFlags, f) })
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	for _, f := range initFlags {
		fs.Var(f.Value, f.Name, f.Usage)
	}
	flag.CommandLine = fs
	return fs
}

// aliasUsage prefixes the usage of a hidden alias flag; printHelp leaves such flags out.
const aliasUsage = "\x00alias of --"

// declareAliases binds each old spelling to the Value of the flag that replaced it.
func (c *Command) declareAliases(fs *flag.FlagSet) error {
	for old, name := range c.Aliases {
		f := fs.Lookup(name)
		if f == nil {
			return fmt.Errorf("umt %s: alias --%s names no flag --%s", c.Path, old, name)
		}
		if fs.Lookup(old) == nil { // the global set keeps aliases declared by an earlier Run
			fs.Var(f.Value, old, aliasUsage+name)
		}
	}
	return nil
}

// canonicalFlag maps a flag name as the user spelled it to its current name.
func (c *Command) canonicalFlag(name string) string {
	if n, ok := c.Aliases[name]; ok {
		return n
	}
	return name
}

// parseInterleaved parses flags wherever they stand among the positional arguments
// ("inspect shards DIR --json" as "inspect shards --json DIR"); after "--" everything is
// positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
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
	if fs == nil {
		return
	}
	// Print only current names: a copy of the set without the hidden aliases.
	shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Usage, aliasUsage) {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	var n int
	shown.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "Flags:")
		shown.SetOutput(w)
		shown.PrintDefaults()
	}
}

// commandNames lists the commands one word below path, for errors that name what exists.
func commandNames(path string) string {
	var names []string
	for _, c := range children(path) {
		names = append(names, strings.TrimPrefix(c.Path, path+" "))
	}
	return strings.Join(names, ", ")
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
and train UMT students from them.

Usage:
  umt <command> [args and flags, in any order]
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
  make demo                                              # prep + a few training steps on the sample
  umt prep --input testdata/sample/manifest.jsonl --output /tmp/ds \
      --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors --teacher-resolution 64 \
      --size 64 --frames 4 --layout full                 # local run on Prism
  umt train stage1 --data /tmp/ds --config tiny --output /tmp/run --max-steps 20
  umt inspect shards /tmp/ds --json
  umt inspect video testdata/videos/synthetic/*.mp4      # probe videos as JSON lines
  umt bench teacher --config b16 --device auto           # this machine's teacher clips/s
  umt version
`)
}
