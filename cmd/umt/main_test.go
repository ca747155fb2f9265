package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// capture runs the CLI with args and returns its exit code and what it wrote to stdout.
func capture(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	old := stdout
	stdout = &buf
	defer func() { stdout = old }()
	code := run(args)
	return code, buf.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	if len(commands) < 9 {
		t.Fatalf("only %d commands registered", len(commands))
	}
	for path, c := range commands {
		t.Run(path, func(t *testing.T) {
			args := append(strings.Fields(path), "--help")
			code, out := capture(t, args...)
			if code != 0 {
				t.Fatalf("umt %s --help exited %d", path, code)
			}
			if !strings.Contains(out, "umt "+path) || !strings.Contains(out, c.Short) {
				t.Fatalf("help of %q lacks its name or summary:\n%s", path, out)
			}
			if c.Short == "" {
				t.Fatalf("command %q has no one-line summary", path)
			}
			if !strings.Contains(out, "Example") {
				t.Errorf("help of %q has no examples:\n%s", path, out)
			}
		})
	}
}

func TestTopLevelUsageListsEveryJob(t *testing.T) {
	code, out := capture(t, "--help")
	if code != 0 {
		t.Fatalf("umt --help exited %d", code)
	}
	for _, job := range []string{"prep", "train", "inspect", "version"} {
		if !regexp.MustCompile(`(?m)^  ` + job + ` `).MatchString(out) {
			t.Errorf("umt --help does not list %q:\n%s", job, out)
		}
	}
	// Only what exists: every command the usage names is registered, and every flag its
	// examples use is one of that command's flags.
	list, _, _ := strings.Cut(out[strings.Index(out, "Commands:"):], "\n\n")
	for _, m := range regexp.MustCompile(`(?m)^  (\w+) `).FindAllStringSubmatch(list, -1) {
		if commands[m[1]] == nil {
			t.Errorf("umt --help lists %q, which is no command", m[1])
		}
	}
	checkExampleFlags(t, out)
	if code, _ := capture(t); code != 2 {
		t.Errorf("umt with no arguments should exit 2 (usage), got %d", code)
	}
}

func TestUnknownCommandsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"inspect", "nothing"}, {"version", "--no-such-flag"}, {"version", "extra"}} {
		if code, _ := capture(t, args...); code != 2 {
			t.Errorf("umt %v: want exit 2, got %d", args, code)
		}
	}
}

// No command is a placeholder: running any command without arguments either works, prints
// help or fails with a usage error, never "not built yet"; an unknown command or subcommand is a
// usage error that names the ones that exist.
func TestNoPlaceholderCommands(t *testing.T) {
	// The bench modes time ViT-B/16 without arguments (tens of seconds on a small CPU): the
	// tiny preset exercises the same path in a second.
	quick := map[string][]string{"bench teacher": {"--config", "tiny", "--iterations", "1"}, "bench step": {"--config", "tiny", "--iterations", "1"}}
	for path := range commands {
		stderr := captureStderr(t, func() { capture(t, append(strings.Fields(path), quick[path]...)...) })
		if strings.Contains(stderr, "not built") {
			t.Errorf("umt %s says %q", path, stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nothing"}, "the commands are: bench, eval, export, index, inspect, prep, train"},
		{[]string{"train", "stage3"}, "the subcommands of train are: stage1, stage2"},
		{[]string{"inspect", "nothing"}, "frames, shards, teacher, text, video"},
	} {
		var code int
		stderr := captureStderr(t, func() { code, _ = capture(t, c.args...) })
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("umt %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// Every command's flags are kebab-case (Beam's own pipeline flags, which prep shares on the
// global set, keep Beam's names), and every flag its --help examples use exists.
func TestFlagsAreKebabCase(t *testing.T) {
	for path, c := range commands {
		if c.Flags == nil {
			continue
		}
		fs := flag.NewFlagSet(path, flag.ContinueOnError)
		c.Flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`).MatchString(f.Name) {
				t.Errorf("umt %s --%s is not kebab-case", path, f.Name)
			}
		})
		_, help := capture(t, append(strings.Fields(path), "--help")...)
		checkExampleFlags(t, help)
	}
}

// checkExampleFlags checks that each "umt CMD ... --flag" line of help text uses flags CMD has.
func checkExampleFlags(t *testing.T, help string) {
	t.Helper()
	_, examples, ok := strings.Cut(help, "Examples:")
	if !ok {
		t.Errorf("help has no examples:\n%s", help)
	}
	examples, _, _ = strings.Cut(examples, "\n\n")
	lines := strings.Split(examples, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "umt ") {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) { // continued example
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(lines[i])
		}
		line, _, _ = strings.Cut(line, "#")
		line, _, _ = strings.Cut(line, "|")
		c, rest := lookup(strings.Fields(line)[1:])
		if c == nil {
			t.Errorf("example %q names no command", line)
			continue
		}
		fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
		if c.Global {
			fs = freshGlobalFlags("umt " + c.Path)
		}
		if c.Flags != nil {
			c.Flags(fs)
		}
		for _, a := range rest {
			if name, ok := strings.CutPrefix(a, "--"); ok {
				name, _, _ = strings.Cut(name, "=")
				if fs.Lookup(name) == nil {
					t.Errorf("example %q uses --%s, which umt %s does not have", line, name, c.Path)
				} else if _, alias := c.Aliases[name]; alias {
					t.Errorf("example %q uses the old spelling --%s", line, name)
				}
			}
		}
	}
}

// The old spellings of renamed flags still parse, set the new flag, and stay out of --help.
func TestOldFlagSpellingsAreHiddenAliases(t *testing.T) {
	saved := prepFlags // prep binds its flags to these globals; the values set here must not leak
	defer func() { prepFlags = saved }()
	n := 0
	for path, c := range commands {
		for old, name := range c.Aliases {
			n++
			fs := flag.NewFlagSet(path, flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.Flags(fs)
			if err := c.declareAliases(fs); err != nil {
				t.Fatal(err)
			}
			f := fs.Lookup(name)
			val := "7"
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				val = "true"
			}
			if err := fs.Parse([]string{"--" + old + "=" + val}); err != nil {
				t.Errorf("umt %s --%s: %v", path, old, err)
				continue
			}
			if got := f.Value.String(); got != val && got != "7ns" {
				t.Errorf("umt %s --%s=%s set --%s to %q", path, old, val, name, got)
			}
			if c.canonicalFlag(old) != name {
				t.Errorf("canonicalFlag(%q) = %q, want %q", old, c.canonicalFlag(old), name)
			}
			_, help := capture(t, append(strings.Fields(path), "--help")...)
			if regexp.MustCompile(`(?m)^  -` + old + `( |$)`).MatchString(help) {
				t.Errorf("umt %s --help lists the old spelling --%s", path, old)
			}
			if !strings.Contains(help, "-"+name) {
				t.Errorf("umt %s --help does not list --%s", path, name)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d aliases: the renamed flags lost their old spellings", n)
	}
}

// Flags may follow positional arguments; after "--" everything is positional.
func TestFlagsMayFollowPositionals(t *testing.T) {
	for _, c := range []struct {
		args, wantPos []string
		wantJSON      bool
	}{
		{[]string{"DIR", "--json"}, []string{"DIR"}, true},
		{[]string{"--json", "DIR"}, []string{"DIR"}, true},
		{[]string{"A", "--json", "B"}, []string{"A", "B"}, true},
		{[]string{"A", "--", "--json"}, []string{"A", "--json"}, false},
		{[]string{"A"}, []string{"A"}, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		pos, err := parseInterleaved(fs, c.args)
		if err != nil || !slices.Equal(pos, c.wantPos) || *asJSON != c.wantJSON {
			t.Errorf("%q: positionals %q json %v err %v; want %q %v", c.args, pos, *asJSON, err, c.wantPos, c.wantJSON)
		}
	}
}

// captureStderr returns what f writes to os.Stderr.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	f()
	os.Stderr = old
	w.Close()
	return string(<-done)
}

func TestVersionReportsLinkedLibraries(t *testing.T) {
	v := versionInfo()
	for _, k := range []string{"umt", "go", "ffmpeg", "libavcodec", "libavformat", "beam"} {
		if v[k] == "" {
			t.Errorf("version info lacks %q: %v", k, v)
		}
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v["libavcodec"]) {
		t.Errorf("libavcodec version %q is not major.minor.micro", v["libavcodec"])
	}
	if !strings.HasPrefix(v["beam"], "v2.") {
		t.Errorf("beam version %q, want v2.x", v["beam"])
	}
}

func TestWorkerInvocationIsDetected(t *testing.T) {
	for args, want := range map[string]bool{
		"--worker=true --id=1": true, "-worker": true, "prep --out x": false, "--workers=3": false,
	} {
		if got := isWorkerInvocation(strings.Fields(args)); got != want {
			t.Errorf("isWorkerInvocation(%q) = %v, want %v", args, got, want)
		}
	}
}
