package kiln_test

import (
	"net/http"
	"testing"

	"github.com/kilnhq/kiln"
)

// TestStatusFor_Nil (issue 16, item 8): no error is no failure: 200, so
// that w.WriteHeader(kiln.StatusFor(err)) is right in both cases.
func TestStatusFor_Nil(t *testing.T) {
	if got := kiln.StatusFor(nil); got != http.StatusOK {
		t.Fatalf("StatusFor(nil) = %d, want 200", got)
	}
}
