package kiln

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kilnhq/kiln/engine"
)

// Errors returned by kiln; test with errors.Is.
var (
	// ErrSessionInvalidated: the session was invalidated (or its ID renewed)
	// earlier in this request; it can no longer be used.
	ErrSessionInvalidated = errors.New("kiln: session invalidated")
	// ErrConcurrentUpdate: another request changed the session since this
	// request loaded it; nothing of this request's changes was saved.
	ErrConcurrentUpdate = errors.New("kiln: session changed by a concurrent request")
	// ErrUnavailable: the engine could not be reached or did not answer in time.
	ErrUnavailable = errors.New("kiln: session store unavailable")
	// ErrTooLarge: an attribute, the session or its number of attributes
	// exceeds a configured limit.
	ErrTooLarge = errors.New("kiln: session limit exceeded")
	// ErrBadName: an attribute name is empty or longer than MaxNameLen.
	ErrBadName = errors.New("kiln: bad attribute name")
	// ErrEncode: a value could not be encoded, or would not come back
	// whole: its type has an unexported field, which the codec would skip
	// (the error names the type and the field). Put refuses such a value,
	// Get[T] such a T, and a save one that a value changed in place holds.
	ErrEncode = errors.New("kiln: cannot encode value")
	// ErrDecode: a stored value could not be decoded into the requested type.
	ErrDecode = errors.New("kiln: cannot decode value")
	// ErrTooManySessions: the principal has Config.MaxSessionsPerPrincipal
	// sessions already and Config.RefuseOverLimit is set.
	ErrTooManySessions = errors.New("kiln: too many sessions for this principal")
	// ErrResponseStarted: the session was changed after the response
	// started. It was saved when the response started (docs/http.md); this
	// change was refused and the session is as saved.
	ErrResponseStarted = errors.New("kiln: response already started")
)

// statusTable maps kiln's errors to the HTTP status a client gets when a
// request fails because of them. Any other error is a 500; nil is a 200.
var statusTable = []struct {
	err    error
	status int
}{
	{ErrConcurrentUpdate, http.StatusConflict},
	{ErrUnavailable, http.StatusServiceUnavailable},
	{engine.ErrUnavailable, http.StatusServiceUnavailable},
	{engine.ErrClosed, http.StatusServiceUnavailable},
	{ErrSessionInvalidated, http.StatusConflict},
	{ErrTooManySessions, http.StatusForbidden},
}

// StatusFor returns the HTTP status for a request that failed with err:
// the table above, 500 for any other error, and 200 for nil (no failure).
func StatusFor(err error) int {
	if err == nil {
		return http.StatusOK
	}
	for _, e := range statusTable {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// engineErr translates an engine error into kiln's vocabulary, keeping the
// cause in the chain: "save session: kiln: ...: engine: ...".
func engineErr(op string, err error) error {
	var kind error
	switch {
	case errors.Is(err, engine.ErrConflict):
		kind = ErrConcurrentUpdate
	case errors.Is(err, engine.ErrUnavailable), errors.Is(err, engine.ErrClosed),
		errors.Is(err, context.DeadlineExceeded):
		kind = ErrUnavailable
	case errors.Is(err, engine.ErrTooLarge):
		kind = ErrTooLarge
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, kind, err)
}
