package main

import (
	"bytes"
	"regexp"
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
	if len(commands) < 10 {
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
			if !c.placeholder && c.Exec != nil && !strings.Contains(out, "Example") {
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
	for _, job := range []string{"prep", "train", "export", "inspect", "bench", "version"} {
		if !regexp.MustCompile(`(?m)^  ` + job + ` `).MatchString(out) {
			t.Errorf("umt --help does not list %q:\n%s", job, out)
		}
	}
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

func TestPlaceholdersFailLoudly(t *testing.T) {
	for path, c := range commands {
		if !c.placeholder || c.Exec == nil || len(children(path)) > 0 {
			continue
		}
		if err := c.Exec(nil); err == nil || !strings.Contains(err.Error(), "not built yet") {
			t.Errorf("placeholder %q must fail with 'not built yet', got %v", path, err)
		}
		if code, _ := capture(t, strings.Fields(path)...); code != 1 {
			t.Errorf("placeholder %q must exit 1", path)
		}
	}
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
