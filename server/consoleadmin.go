package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// adminSessions is the console's kiln API (console.Sessions). Reads go
// through an Admin Manager without leases, which writes nothing to the
// bucket; the actions through an Admin Manager with leases, made at the
// first action, so that they end sessions under their leases as a
// request would. That one has a liveness record (n.<node>) from then on.
// Neither takes expiry work (kiln.Config.Admin) nor publishes reports.
type adminSessions struct {
	*kiln.Manager // the reader
	eng           *natsengine.Engine
	cfg           kiln.Config

	mu    sync.Mutex // guards actor
	actor *kiln.Manager
}

func newAdminSessions(eng *natsengine.Engine, node string, log *slog.Logger) (*adminSessions, error) {
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Admin, cfg.ReportInterval, cfg.Logger = node, true, 0, log
	read := cfg
	read.NoLeases = true
	m, err := kiln.New(eng, read)
	if err != nil {
		return nil, err
	}
	return &adminSessions{Manager: m, eng: eng, cfg: cfg}, nil
}

// acting returns the Manager with leases, making it the first time.
func (a *adminSessions) acting() (*kiln.Manager, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.actor == nil {
		m, err := kiln.New(a.eng, a.cfg)
		if err != nil {
			return nil, fmt.Errorf("console: start the acting Manager: %w", err)
		}
		a.actor = m
	}
	return a.actor, nil
}

func (a *adminSessions) InvalidateKey(ctx context.Context, key string) (bool, error) {
	m, err := a.acting()
	if err != nil {
		return false, err
	}
	return m.InvalidateKey(ctx, key)
}

func (a *adminSessions) InvalidatePrincipal(ctx context.Context, principal string) (int, error) {
	m, err := a.acting()
	if err != nil {
		return 0, err
	}
	return m.InvalidatePrincipal(ctx, principal)
}

// Close closes both Managers; the acting one hands its leases over.
func (a *adminSessions) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.Manager.Close()
	if a.actor != nil {
		err = errors.Join(err, a.actor.Close())
	}
	return err
}
