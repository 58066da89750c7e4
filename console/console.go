package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
)

// Sessions is what the console needs of a kiln.Manager: a Manager made
// with Config.Admin (so that it takes no expiry work) satisfies it.
type Sessions interface {
	CountSessions(ctx context.Context) (int, error)
	ListSessions(ctx context.Context, cursor string, limit int) ([]kiln.SessionInfo, string, error)
	Sessions(ctx context.Context, principal string) ([]kiln.SessionInfo, error)
	SessionDetail(ctx context.Context, key string) (kiln.SessionDetail, bool, error)
	InvalidateKey(ctx context.Context, key string) (bool, error)
	InvalidatePrincipal(ctx context.Context, principal string) (int, error)
}

// Roles of console users: the roles of kiln server's auth.users that may
// log in (the node role may not).
const (
	RoleAdmin  = "admin"  // sees everything and may act
	RoleViewer = "viewer" // sees everything; every action is refused (403)
)

// User may log in to the console.
type User struct {
	Name string
	// Password is the password, or its bcrypt hash ("$2a$…", "$2b$…").
	Password string
	Role     string // RoleAdmin or RoleViewer
}

// Options configure a console. Sessions and Users are required.
type Options struct {
	Sessions Sessions
	// Nodes lists the web nodes (a *cluster.View); nil shows none.
	Nodes Nodes
	// Servers describes the NATS servers and streams; nil shows none.
	Servers Servers
	// Users may log in; at least one, each admin or viewer.
	Users []User
	// Prefix is the path the console is mounted at, without a trailing
	// slash: mount the console at Prefix+"/". Default "/console".
	Prefix string
	// Secure marks the console's cookie Secure on plain-HTTP requests too:
	// set it behind a proxy that terminates TLS. On TLS it is always set.
	Secure bool
	// SampleInterval is the charts' resolution; they keep 360 samples
	// (an hour at the default, 10s).
	SampleInterval time.Duration
	// LoginIdle and LoginLifetime end a console login unused for that
	// long, and that long after it began. Defaults 30m and 12h.
	LoginIdle, LoginLifetime time.Duration
	// EngineTimeout bounds each page's engine calls. Default 5s.
	EngineTimeout time.Duration
	Clock         clock.Clock  // default clock.Real
	Logger        *slog.Logger // default slog.Default()
}

func (o Options) withDefaults() (Options, error) {
	o.Prefix = cmp.Or(strings.TrimRight(o.Prefix, "/"), "/console")
	o.SampleInterval = cmp.Or(o.SampleInterval, 10*time.Second)
	o.LoginIdle = cmp.Or(o.LoginIdle, 30*time.Minute)
	o.LoginLifetime = cmp.Or(o.LoginLifetime, 12*time.Hour)
	o.EngineTimeout = cmp.Or(o.EngineTimeout, 5*time.Second)
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, o.validate()
}

func (o Options) validate() error {
	switch {
	case o.Sessions == nil:
		return errors.New("console: Options.Sessions is required")
	case len(o.Users) == 0:
		return errors.New("console: Options.Users: no user may log in (want one with role admin or viewer)")
	case !strings.HasPrefix(o.Prefix, "/"):
		return fmt.Errorf("console: Options.Prefix %q must start with /", o.Prefix)
	}
	for i, u := range o.Users {
		if u.Name == "" || u.Password == "" {
			return fmt.Errorf("console: Options.Users[%d]: name and password are required", i)
		}
		if u.Role != RoleAdmin && u.Role != RoleViewer {
			return fmt.Errorf("console: Options.Users[%d] (%s): role %q may not log in (want admin or viewer)", i, u.Name, u.Role)
		}
	}
	return nil
}

// Console is the operator console, an http.Handler to mount at
// Options.Prefix+"/". Close stops its sampler.
type Console struct {
	opts    Options
	mux     *http.ServeMux
	users   *users
	logins  *logins
	limiter *loginLimiter
	count   *countCache
	samples *sampler
}

// New returns a console; its sampler runs until Close.
func New(opts Options) (*Console, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Console{
		opts:    opts,
		users:   newUsers(opts.Users),
		logins:  newLogins(opts.Clock, opts.LoginIdle, opts.LoginLifetime),
		limiter: newLoginLimiter(opts.Clock),
		count:   &countCache{sessions: opts.Sessions, clock: opts.Clock, maxAge: opts.SampleInterval},
	}
	c.samples = startSampler(opts, c.count)
	c.mux = c.routes()
	return c, nil
}

// Close stops the sampler.
func (c *Console) Close() error {
	c.samples.stop()
	return nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}
