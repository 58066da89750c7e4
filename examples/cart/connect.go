package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// Connection attempts at start: each waits up to attemptTimeout for the
// server, and the pause between them doubles from firstRetryDelay to
// maxRetryDelay.
const (
	attemptTimeout  = 2 * time.Second
	firstRetryDelay = 250 * time.Millisecond
	maxRetryDelay   = 5 * time.Second
)

// openRetrying opens the engine, waiting up to wait for its server to come
// up (a web node may start before the kiln server) and logging each retry.
// It gives up at once on errors a retry cannot fix, such as refused
// credentials.
func openRetrying(ctx context.Context, eopts natsengine.Options, wait time.Duration, log *slog.Logger) (*natsengine.Engine, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	where := redactURLs(eopts.URL)
	for delay := firstRetryDelay; ; delay = min(2*delay, maxRetryDelay) {
		eng, err := openOnce(ctx, eopts)
		switch {
		case err == nil:
			return eng, nil
		case errors.Is(err, nats.ErrAuthorization):
			return nil, fmt.Errorf("kiln server at %s refused the credentials (check -token, or -user and -password): %w", where, err)
		case !errors.Is(err, engine.ErrUnavailable):
			return nil, err
		}
		err = redactedError{err, eopts.URL}
		log.Warn(fmt.Sprintf("cart: waiting for kiln server at %s, retrying in %s", where, delay), "err", err)
		if !sleep(ctx, delay) {
			return nil, fmt.Errorf("no kiln server at %s after %s: %w", where, wait, err)
		}
	}
}

// openOnce is one connection attempt of at most attemptTimeout.
func openOnce(ctx context.Context, eopts natsengine.Options) (*natsengine.Engine, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	return natsengine.Open(ctx, eopts)
}

// sleep waits for d, or until ctx ends (and reports false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// redactURLs is a comma-separated list of URLs without the user
// information (a token, or a user and password) of any of them.
func redactURLs(urls string) string {
	list := strings.Split(urls, ",")
	for i, s := range list {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			list[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			u.User = url.User("redacted")
		}
		list[i] = u.String()
	}
	return strings.Join(list, ",")
}

// redactedError is an error whose message may quote urls: it shows them
// without their user information.
type redactedError struct {
	err  error
	urls string
}

func (e redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range strings.Split(e.urls, ",") {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.User != nil {
			msg = strings.ReplaceAll(msg, u.User.String()+"@", "redacted@")
		}
	}
	return msg
}

func (e redactedError) Unwrap() error { return e.err }
