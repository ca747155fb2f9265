package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/runners/runnertest"
)

// demoCommands returns the commands between the "demo-commands" markers of scripts/demo.sh,
// continuation lines joined, with the script's variables replaced by what `make demo` uses.
func demoCommands(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "scripts", "demo.sh"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "# demo-commands begin\n")
	block, _, ok2 := strings.Cut(block, "# demo-commands end")
	if !ok || !ok2 {
		t.Fatal("scripts/demo.sh has no demo-commands block")
	}
	r := strings.NewReplacer(`"$umt"`, "bin/umt", `"$out"`, "out/demo", `"$run"`, "out/demo-run", `"$s2"`, "out/demo-stage2")
	return joinLines(r.Replace(block))
}

// joinLines splits shell text into commands, joining "\"-continued lines and spaces.
func joinLines(text string) []string {
	var cmds []string
	cur := ""
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSpace(strings.TrimSuffix(l, `\`)) + " "
			continue
		}
		cmds = append(cmds, strings.Join(strings.Fields(cur+l), " "))
		cur = ""
	}
	return cmds
}

// The README's first command is `make demo`; the commands the README says it runs are those of
// scripts/demo.sh (which `make demo` runs); and running that script from a clean output prepares
// the sample, trains a few stage-1 and stage-2 steps, evaluates retrieval and prints where the
// checkpoints and loss plots are, which exist.
func TestReadmeFirstRunFlows(t *testing.T) {
	root := testenv.RepoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d sh blocks, want the setup block and the demo's commands", len(blocks))
	}
	if first := joinLines(blocks[0][1]); len(first) == 0 || !strings.HasPrefix(first[0], "make demo") {
		t.Fatalf("README's first command is %q, want make demo", first)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^demo:.*\n\t@?bash scripts/demo.sh`).Match(mk) {
		t.Fatal("the Makefile's demo target does not run scripts/demo.sh")
	}
	script := demoCommands(t, root)
	var shown []string
	for _, c := range joinLines(blocks[1][1]) {
		c, _, _ = strings.Cut(c, "  #")
		shown = append(shown, strings.TrimSpace(c))
	}
	if strings.Join(shown, "\n") != strings.Join(script, "\n") {
		t.Fatalf("README shows\n%s\nbut scripts/demo.sh runs\n%s", strings.Join(shown, "\n"), strings.Join(script, "\n"))
	}
	// Every command the demo runs parses against the real CLI (flags and all).
	for _, c := range script {
		checkExampleFlags(t, "Examples:\n  "+strings.TrimPrefix(c, "bin/")+"\n")
	}

	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t, 8*time.Minute))
	defer cancel()
	bin := umtBinary(ctx, t)
	out := filepath.Join(t.TempDir(), "demo")
	cmd := runnertest.Command(ctx, "bash", filepath.Join(root, "scripts", "demo.sh"), out)
	cmd.Env = append(os.Environ(), "UMT_BIN="+bin)
	b, err := combined(cmd)
	if err != nil {
		t.Fatalf("scripts/demo.sh: %v\n%s", err, b)
	}
	log := string(b)
	run, s2 := out+"-run", out+"-stage2"
	for _, want := range []string{
		"config: model.return_layers 2 → 3",
		"step 20/20",
		"demo: checkpoint:  " + filepath.Join(run, "checkpoints", "step-00000020"),
		"demo: loss plot:   " + filepath.Join(run, "loss.png"),
		"init: vision encoder from " + filepath.Join(run, "checkpoints"),
		"step 4/4", "vtc", "mlm",
		"4 videos, 4 captions", "txt_r1",
		"demo: stage 2:     " + filepath.Join(s2, "checkpoints", "step-00000004"),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, log)
		}
	}
	for _, f := range []string{filepath.Join(out, "index.json"), filepath.Join(out, "prep-report.json"),
		filepath.Join(run, "loss.png"), filepath.Join(run, "checkpoints", "step-00000020", "model.safetensors"),
		filepath.Join(s2, "loss.png"), filepath.Join(s2, "checkpoints", "step-00000004", "model.safetensors")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after the demo: %v", err)
		}
	}
}
