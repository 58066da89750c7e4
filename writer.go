package kiln

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
)

// The response rule (docs/http.md): the session is saved, and its lease
// slot released, when the response starts: the first WriteHeader, Write or
// Flush, or Hijack. After that reads keep working from the request's own
// view, and every change fails with ErrResponseStarted.

// request is the middleware's state for one request.
type request struct {
	m        *Manager
	r        *http.Request
	s        *Session
	in       incoming // what the request's cookie and header said about the ID
	started  bool     // the session was saved for the response (or its save failed)
	err      error    // that save failed: the error's response replaces the handler's
	failSent bool     // the error's response was written
}

// responseWriter saves the session before the response starts.
type responseWriter struct {
	http.ResponseWriter
	req *request
}

// WriteHeader saves the session, then sends the handler's status, or the
// error's if the save failed. An informational status (1xx but 101, e.g.
// 103 Early Hints) is not the response: it passes without a save.
func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols && !w.req.started {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.req.start(w.ResponseWriter) {
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write starts the response if needed; after a failed save it drops p.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.req.started {
		w.WriteHeader(http.StatusOK)
	}
	if err := w.req.err; err != nil {
		return 0, err
	}
	return w.ResponseWriter.Write(p)
}

// Flush starts the response if needed and flushes it.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController: it reports a failed
// save, or the underlying writer's error.
func (w *responseWriter) FlushError() error {
	if !w.req.started {
		w.WriteHeader(http.StatusOK)
	}
	if err := w.req.err; err != nil {
		return err
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack saves the session, then hands over the connection. If the save
// fails it writes nothing and returns the error; the error's response is
// then sent instead of whatever the handler writes.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := hijacker(w.ResponseWriter)
	if !ok {
		return nil, nil, fmt.Errorf("kiln: hijack: %w", http.ErrNotSupported)
	}
	q := w.req
	if !q.started {
		q.save(w.ResponseWriter)
	}
	if q.err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", q.err)
	}
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer for
// everything but Flush and Hijack.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hijacker finds the Hijacker under w, as http.ResponseController does.
func hijacker(w http.ResponseWriter) (http.Hijacker, bool) {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return t, true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil, false
		}
	}
}

// start saves the session before the response's first byte, and writes
// the error's response instead if that failed. It reports whether the
// handler's response may go out.
func (q *request) start(w http.ResponseWriter) bool {
	if !q.started {
		q.save(w)
	}
	if q.err != nil && !q.failSent {
		q.failSent = true
		q.m.fail(w, q.r, failedSession(q.s, q.in), q.err)
	}
	return q.err == nil
}

// save saves the session for the response, sets its cookie on w and
// releases its lease slot, so other requests of the user can run while
// this one streams.
func (q *request) save(w http.ResponseWriter) {
	q.started = true
	res, err := q.s.saveForResponse(q.r.Context())
	if err != nil {
		q.err = err
	} else {
		q.sendID(w, res)
	}
	q.s.release()
}

// finish runs after the handler: it saves if the response has not started
// (or sends the error's response), then warns about values the handler
// changed in place after the save, which are lost.
func (q *request) finish(w http.ResponseWriter) {
	handlerStarted := q.started
	if !q.start(w) || !handlerStarted {
		return // no handler code ran after the save
	}
	for _, name := range q.s.changedAfterSave() {
		q.m.cfg.Logger.Warn("kiln: session attribute changed in place after the response started; not saved",
			"attribute", name, "session", q.s.fingerprint(), "method", q.r.Method, "path", q.r.URL.Path)
	}
}
