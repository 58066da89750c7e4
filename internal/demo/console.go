package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/cluster"
	"github.com/kilnhq/kiln/console"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/server"
)

// consoleUser is the console's admin user; its password is random per run
// and printed by `kiln demo` (ConsoleLogin).
const consoleUser = "admin"

// demoConsole is the operator console of a demo, on a listener of its
// own: an Admin Manager (no expiry work) and a cluster.View on an engine
// connection that logs in as the demo's NATS admin.
type demoConsole struct {
	login login
	eng   *natsengine.Engine
	admin *kiln.Manager
	view  *cluster.View
	c     *console.Console
	web   *webServer
}

func startConsole(ctx context.Context, d *Demo, addr, bucket string, as login, log *slog.Logger) (*demoConsole, error) {
	dc := &demoConsole{login: login{user: consoleUser, password: rand.Text()}}
	err := dc.start(ctx, d, addr, bucket, as, log.With("node", "console"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("demo: console: %w", err), dc.stop())
	}
	return dc, nil
}

func (dc *demoConsole) start(ctx context.Context, d *Demo, addr, bucket string, as login, log *slog.Logger) error {
	var err error
	if dc.eng, err = openEngine(ctx, "console", d.nats.ClientURL(), bucket, as, log); err != nil {
		return err
	}
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Admin, cfg.Logger = "console", true, log
	if dc.admin, err = kiln.New(dc.eng, cfg); err != nil {
		return err
	}
	if dc.view, err = cluster.Watch(ctx, dc.eng, cluster.Options{Logger: log}); err != nil {
		return err
	}
	dc.c, err = console.New(console.Options{Sessions: dc.admin, Nodes: dc.view, Logger: log,
		Servers: server.NATSServers(d.nats, bucket),
		Users:   []console.User{{Name: dc.login.user, Password: dc.login.password, Role: console.RoleAdmin}}})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", dc.c)
	dc.web, err = startWebServer(addr, mux)
	return err
}

// stop stops what start started, in reverse.
func (dc *demoConsole) stop() error {
	var errs []error
	if dc.web != nil {
		errs = append(errs, dc.web.stop(closeTimeout))
	}
	if dc.c != nil {
		errs = append(errs, dc.c.Close())
	}
	if dc.view != nil {
		errs = append(errs, dc.view.Close())
	}
	if dc.admin != nil {
		errs = append(errs, dc.admin.Close())
	}
	if dc.eng != nil {
		errs = append(errs, dc.eng.Close())
	}
	return errors.Join(errs...)
}

// ConsoleURL is the operator console's URL.
func (d *Demo) ConsoleURL() string { return d.console.web.url + "/console/" }

// ConsoleLogin is the console's admin user and its password, generated
// for this run.
func (d *Demo) ConsoleLogin() (user, password string) {
	return d.console.login.user, d.console.login.password
}
