package natsengine_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestLayout_BlockSizeFollowsMaxBytes pins what Options.MaxBytes says
// about the server's message blocks (docs/scaling.md, "Cold records"): a
// bucket without a limit gets 4 MiB blocks, one with a limit of 32 MiB or
// more 8 MiB blocks, so 6 MiB of records fill two blocks in the first and
// one in the second. A nats-server upgrade that changes it fails here.
func TestLayout_BlockSizeFollowsMaxBytes(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	for _, tc := range []struct {
		bucket   string
		maxBytes int64
		blocks   int
	}{
		{"nolimit", 0, 2},
		{"limited", 1 << 30, 1},
	} {
		e := MustOpenEngine(t, srv, natsengine.Options{Bucket: tc.bucket, MaxBytes: tc.maxBytes})
		value := make([]byte, 100<<10)
		for i := range 60 { // 6 MiB
			mustCommit(t, e, engine.Op{Key: fmt.Sprintf("k%d", i), Value: value})
		}
		what := fmt.Sprintf("bucket %s (MaxBytes %d): 6 MiB in %d block files", tc.bucket, tc.maxBytes, tc.blocks)
		eventually(t, 5*time.Second, what, func() bool {
			return countBlocks(t, filepath.Join(dir, "jetstream"), "KV_"+tc.bucket) == tc.blocks
		})
	}
}

// countBlocks counts the message block files of stream under root.
func countBlocks(t *testing.T, root, stream string) int {
	t.Helper()
	var n int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".blk") && strings.Contains(path, string(filepath.Separator)+stream+string(filepath.Separator)) {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
