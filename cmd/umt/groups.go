package main

// Group commands: their help lists the subcommands, and an unknown subcommand is a usage error
// that names the ones that exist.

func init() {
	group := func(path, short, long string) {
		register(&Command{Path: path, Short: short, Long: long, group: true, Exec: groupExec(path)})
	}
	group("inspect", "look inside videos, sampled frames, shards and teacher outputs",
		`Tools for people and tests. Each subcommand prints JSON a program can read.

Examples:
  umt inspect video testdata/videos/synthetic/*.mp4
  umt inspect frames --sampler middle --frames 8 --output /tmp/frames VIDEO
  umt inspect shards /tmp/ds --json`)
	group("eval", "evaluate trained models",
		`Zero-shot evaluations of stage-2 checkpoints on datasets written by 'umt prep --tokenizer'.

Examples:
  umt eval retrieval --data out/msrvtt-1k --weights out/s2/checkpoints`)
	group("train", "train the UMT student from shards",
		`Stage 1 aligns a masked video ViT student to the CLIP teacher's unmasked tokens read
from shards.

Examples:
  umt train stage1 --data out/demo --config tiny --output runs/demo`)
}

// groupExec prints the group's help without arguments and rejects unknown subcommands.
func groupExec(path string) func([]string) error {
	return func(args []string) error {
		if len(args) > 0 {
			return usagef("unknown subcommand %q; the subcommands of %s are: %s", args[0], path, commandNames(path))
		}
		c := commands[path]
		c.printHelp(stdout, nil)
		return errHelpShown
	}
}
