package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"

	"github.com/umt-dev/umt/transforms/video"
)

func init() {
	var asJSON bool
	register(&Command{
		Path:  "version",
		Short: "print the umt version and the versions of FFmpeg, Beam and Go it was built with",
		Long: `Prints the module version of umt, the FFmpeg libraries this binary is linked against
(read from the libraries at run time, not from headers), the Beam Go SDK and Arrow versions it
was built with, and the Go toolchain.

Examples:
  umt version
  umt version --json`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("version takes no arguments, got %q", args)
			}
			v := versionInfo()
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(v)
			}
			fmt.Printf("umt %s\n", v["umt"])
			keys := make([]string, 0, len(v))
			for k := range v {
				if k != "umt" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Printf("  %-12s %s\n", k, v[k])
			}
			return nil
		},
	})
}

// versionInfo collects versions from the build info and the linked FFmpeg libraries.
func versionInfo() map[string]string {
	v := map[string]string{"umt": "(devel)", "go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v["umt"] = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v["umt"] += " (" + s.Value[:12] + ")"
			}
		}
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/apache/beam/sdks/v2":
				v["beam"] = d.Version
			case "github.com/apache/arrow-go/v18":
				v["arrow"] = d.Version
			case "github.com/asticode/go-astiav":
				v["go-astiav"] = d.Version
			}
		}
	}
	for k, s := range video.LibraryVersions() {
		v[k] = s
	}
	return v
}
