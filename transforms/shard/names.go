package shard

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/umt-dev/umt/transforms/storage"
)

// Object names at the dataset root.
const (
	IndexName     = "index.json"   // the dataset index, written last
	clipsPrefix   = "index-clips-" // index-clips-<sha256 prefix>.arrow: clip ids in row order
	shardPrefix   = "shard-"
	shardSuffix   = ".arrow"
	sidecarSuffix = ".json" // shard-<key>-<n>.arrow.json: rows, batches, sha256, clip ids
	failurePrefix = "failures-"
)

var keyRE = regexp.MustCompile(`^[A-Za-z0-9_=][A-Za-z0-9_.=-]{0,127}$`)

func checkKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("%w: writer key %q: want 1-128 characters of [A-Za-z0-9_.=-], derived from the writer's input (e.g. a hash of its clip ids)", storage.ErrName, key)
	}
	return nil
}

// ShardName is the deterministic name of the n-th shard (0-based) of the writer with key.
func ShardName(key string, n int) string {
	return fmt.Sprintf("%s%s-%05d%s", shardPrefix, key, n, shardSuffix)
}

// FailuresName is the name of the failures file of the writer with key.
func FailuresName(key string) string { return failurePrefix + key + shardSuffix }

func isShard(name string) bool {
	return !strings.Contains(name, "/") && strings.HasPrefix(name, shardPrefix) && strings.HasSuffix(name, shardSuffix)
}

func isFailures(name string) bool {
	return !strings.Contains(name, "/") && strings.HasPrefix(name, failurePrefix) && strings.HasSuffix(name, shardSuffix)
}
