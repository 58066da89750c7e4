package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// presence keeps one KV entry per subscription to an exact channel in
// the bucket "KILNCH_PRESENCE_<bucket>", whose entries expire
// PresenceTTL after their last write; each Hub rewrites its own every
// PresenceTTL/3, so a dead node's members vanish within PresenceTTL.
// Keys are "<subscription id>.<channel subject tail>".
type presence struct {
	h    *Hub
	kv   jetstream.KeyValue
	stop func()

	mu      sync.Mutex        // guards local, stopped and leaving.Add
	local   map[string][]byte // key → encoded Member, this Hub's entries
	stopped bool              // stop began: no new background leave

	leaving sync.WaitGroup // leaves in flight; stop waits for them
}

func presenceBucket(bucket string) string { return "KILNCH_PRESENCE_" + bucket }

func newPresence(ctx context.Context, h *Hub, replicas int) (*presence, error) {
	name := presenceBucket(h.opts.Bucket)
	kv, err := h.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		err = whilePlacing(ctx, func() error {
			kv, err = h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1,
				TTL: h.opts.PresenceTTL, Replicas: replicas, Storage: jetstream.FileStorage,
				Description: "kiln channel presence of bucket " + h.opts.Bucket})
			return err
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = h.js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("channel: presence bucket %s: %w", name, unavailable(err))
	}
	pr := &presence{h: h, kv: kv, local: make(map[string][]byte)}
	ticker := time.NewTicker(h.opts.PresenceTTL / 3)
	quit := make(chan struct{})
	var once sync.Once
	pr.stop = func() {
		once.Do(func() { ticker.Stop(); close(quit) })
		pr.mu.Lock()
		pr.stopped = true
		pr.mu.Unlock()
		pr.leaving.Wait()
	}
	go pr.refreshLoop(ticker.C, quit)
	return pr, nil
}

// join records s as a member of its channel and announces it.
func (pr *presence) join(ctx context.Context, s *Subscription) error {
	m := Member{Principal: s.client.Principal, Node: pr.h.opts.Node, ConnID: s.client.ConnID, Since: time.Now()}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key := nuid.Next() + "." + s.tail
	if _, err := pr.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("channel: presence join: %w", unavailable(err))
	}
	pr.mu.Lock()
	pr.local[key] = b
	pr.mu.Unlock()
	s.mu.Lock()
	ended := s.ended
	s.presenceKey, s.member = key, m
	s.mu.Unlock()
	if ended { // ended while joining: its end saw no entry to remove
		pr.leave(s)
		return s.Err()
	}
	return pr.announce(ctx, "join", s.pattern, m)
}

// leaveAsync runs leave in the background (the caller may be a NATS
// callback). Once stop began, the leave is left to the entry's TTL: an
// Add racing stop's Wait would be a misuse of the WaitGroup.
func (pr *presence) leaveAsync(s *Subscription) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.stopped {
		return
	}
	pr.leaving.Add(1)
	go func() {
		defer pr.leaving.Done()
		pr.leave(s)
	}()
}

// leave removes s's entry and announces it; failures are logged (the
// entry expires by itself within PresenceTTL).
func (pr *presence) leave(s *Subscription) {
	ctx, cancel := pr.h.opCtx(context.Background())
	defer cancel()
	s.mu.Lock()
	key, m := s.presenceKey, s.member
	s.mu.Unlock()
	pr.mu.Lock()
	delete(pr.local, key)
	pr.mu.Unlock()
	if err := pr.kv.Delete(ctx, key); err != nil {
		pr.h.log.Warn("channel: presence leave not recorded; the entry expires by itself", "channel", s.pattern, "err", err)
	}
	if err := pr.announce(ctx, "leave", s.pattern, m); err != nil {
		pr.h.log.Warn("channel: presence leave not announced", "channel", s.pattern, "err", err)
	}
}

func (pr *presence) announce(ctx context.Context, action, ch string, m Member) error {
	b, err := json.Marshal(PresenceEvent{Action: action, Channel: ch, Member: m})
	if err != nil {
		return err
	}
	_, err = pr.h.publish(ctx, "", presenceChannel(ch), b, nil)
	return err
}

func (pr *presence) refreshLoop(tick <-chan time.Time, quit <-chan struct{}) {
	for {
		select {
		case <-quit:
			return
		case <-tick:
			pr.refresh()
		}
	}
}

// refresh rewrites this Hub's entries so they do not expire.
func (pr *presence) refresh() {
	pr.mu.Lock()
	entries := make(map[string][]byte, len(pr.local))
	for k, v := range pr.local {
		entries[k] = v
	}
	pr.mu.Unlock()
	for k, v := range entries {
		ctx, cancel := pr.h.opCtx(context.Background())
		_, err := pr.kv.Put(ctx, k, v)
		cancel()
		if err != nil {
			pr.h.log.Warn("channel: presence refresh failed", "err", err)
			return
		}
	}
}

// Presence lists the members of channel ch on every node.
func (h *Hub) Presence(ctx context.Context, ch string) ([]Member, error) {
	segs, err := segments(ch, false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := h.opCtx(ctx)
	defer cancel()
	w, err := h.pres.kv.WatchFiltered(ctx, []string{"*." + subjectTail(segs)}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("channel: presence: %w", unavailable(err))
	}
	defer func() { _ = w.Stop() }()
	var out []Member
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("channel: presence: %w", unavailable(ctx.Err()))
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			var m Member
			if err := json.Unmarshal(e.Value(), &m); err == nil {
				out = append(out, m)
			}
		}
	}
}
