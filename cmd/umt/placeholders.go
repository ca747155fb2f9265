package main

// Group commands (their help lists the subcommands) and placeholders for commands whose
// implementation lands with a later issue. A placeholder fails with "not built yet"; a real
// command registered with the same path replaces it (see registerPlaceholder).

func init() {
	group := func(path, short, long string) {
		registerPlaceholder(&Command{Path: path, Short: short, Long: long, Exec: groupExec(path)})
	}
	group("inspect", "look inside videos, sampled frames, shards and teacher outputs",
		`Tools for people and tests. Each subcommand prints JSON a program can read.

Examples:
  umt inspect video testdata/videos/synthetic/*.mp4
  umt inspect frames --sampler middle --frames 8 --out /tmp/frames VIDEO
  umt inspect shards --json /tmp/ds`)
	group("train", "train the UMT student from shards (stage1, stage2)",
		`Stage 1 aligns a masked video ViT student to the CLIP teacher's unmasked tokens read
from shards; stage 2 adds video-language losses.

Examples:
  umt train stage1 --data /tmp/ds --config tiny`)

	ph := func(path, short string) {
		registerPlaceholder(&Command{Path: path, Short: short, Exec: notBuilt("this command")})
	}
	ph("prep", "manifest of videos → committed Arrow shards with teacher features (Beam)")
	ph("export", "embed videos or shards with the teacher or a trained student (Beam)")
	ph("bench", "run the project's benchmarks and print figures for docs/BENCHMARKS.md")
	ph("train stage1", "stage 1: masked student aligned to the teacher's unmasked tokens")
	ph("train stage2", "stage 2: video-language training (contrastive, matching, masked-LM)")
	ph("inspect video", "probe videos: one JSON line per file")
	ph("inspect frames", "sample frames from a video and write them as PNG plus JSON")
	ph("inspect shards", "print a dataset's schema, provenance, counts and bytes")
	ph("inspect teacher", "run the CLIP teacher on frames from a safetensors file")
}

// registerPlaceholder registers c unless a real command already took its path.
func registerPlaceholder(c *Command) {
	if _, ok := commands[c.Path]; ok {
		return
	}
	c.placeholder = true
	commands[c.Path] = c
}

// groupExec prints the group's help without arguments and rejects unknown subcommands.
func groupExec(path string) func([]string) error {
	return func(args []string) error {
		if len(args) > 0 {
			return usagef("unknown subcommand %q", args[0])
		}
		c := commands[path]
		c.printHelp(stdout, nil)
		return errHelpShown
	}
}
