package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/server"
)

// The demo's NATS server has two users, as a kiln server with roles would
// (docs/security.md): an admin, which only the demo itself uses, to create
// the session bucket, and the node role, which every cart node logs in as.
// Their passwords are random per run; the node's is written, mode 0600, to
// node.password in the demo's store directory, so that another cart can
// join (-user demo-node -password "$(cat …)"), and is never printed.
const (
	adminUser = "demo-admin"
	nodeUser  = "demo-node"
)

// login is a user name and its password.
type login struct{ user, password string }

func newLogin(user string) login { return login{user: user, password: rand.Text()} }

// serverUsers are the users the demo's NATS server accepts.
func serverUsers(admin, node login, bucket string) []natsengine.ServerUser {
	return []natsengine.ServerUser{
		{User: admin.user, Password: admin.password},
		{User: node.user, Password: node.password, Permissions: server.NodePermissions(bucket)},
	}
}

// createBucket creates the session bucket as the admin: a node may not
// create or change streams.
func createBucket(ctx context.Context, url, bucket string, admin login) error {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: url, Bucket: bucket, User: admin.user,
		Password: admin.password, Name: "kiln-demo-admin"})
	if err != nil {
		return fmt.Errorf("demo: create bucket: %w", err)
	}
	return eng.Close()
}

// writePassword writes the node's password to dir/node.password (0600)
// and returns the path.
func writePassword(dir string, node login) (string, error) {
	path := filepath.Join(dir, "node.password")
	if err := os.WriteFile(path, []byte(node.password), 0o600); err != nil {
		return "", fmt.Errorf("demo: node password: %w", err)
	}
	return path, nil
}
