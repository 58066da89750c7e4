package natsengine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestOpen_RedactsURLSecrets: a token or password in Options.URL never
// appears in Open's error, whether no server answers or the server
// refuses the credentials.
func TestOpen_RedactsURLSecrets(t *testing.T) {
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), Token: "right-token"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	live := strings.TrimPrefix(srv.ClientURL(), "nats://")
	dead := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	for _, u := range []string{
		"nats://tok-s3cret@" + dead,
		"nats://app:pw-s3cret@" + dead,
		"nats://tok-s3cret@" + live,
		"nats://127.0.0.1:1,nats://app:pw-s3cret@" + live,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := natsengine.Open(ctx, natsengine.Options{URL: u, Logger: quiet})
		cancel()
		if err == nil {
			t.Fatalf("Open(%s) succeeded", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open's error shows a secret of the URL: %v", err)
		}
	}
}
