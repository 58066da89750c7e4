package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/keys"
)

// Record sizes of a counter session as kiln writes it (format 2, the
// counter inline; measured: 708 B stored per session for the three).
const (
	metaSize  = 160
	touchSize = 30
	leaseSize = 40
)

// TTLs as kiln gives them with the default config (hours: nothing
// expires during a run).
const (
	dataTTL  = 24*time.Hour + keys.DataGrace
	touchTTL = 31 * time.Minute
)

// storeKey is session i's store key k (base64url of a SHA-256, as kiln's).
func storeKey(i int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func value(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// fill creates n sessions, noting each one's meta revision in revs, as kiln does: lease and touch records, then the
// meta record, each IfNew with its TTL, from workers goroutines.
func fill(ctx context.Context, eng *natsengine.Engine, n, workers int, revs []atomic.Uint64) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	t0 := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				rev, err := create(ctx, eng, storeKey(i))
				if err != nil {
					errs <- fmt.Errorf("session %d: %w", i, err)
					return
				}
				revs[i].Store(rev)
				if i > 0 && i%200000 == 0 {
					fmt.Printf("  %d sessions in %s\n", i, time.Since(t0).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// create returns the meta record's revision.
func create(ctx context.Context, eng *natsengine.Engine, k string) (uint64, error) {
	var rev []uint64
	for _, op := range []engine.Op{
		{Key: keys.Lease(k), Value: value(leaseSize), TTL: dataTTL, IfNew: true},
		{Key: keys.Touch(k), Value: value(touchSize), TTL: touchTTL, IfNew: true},
		{Key: keys.Meta(k), Value: value(metaSize), TTL: dataTTL, IfNew: true},
	} {
		var err error
		if rev, err = eng.Commit(ctx, op); err != nil {
			return 0, err
		}
	}
	return rev[0], nil
}
