package kiln

import (
	"fmt"
	"net/http"
	"time"
)

// request is the middleware's state for one request.
type request struct {
	m        *Manager
	r        *http.Request
	s        *Session
	incoming string // the session cookie the client sent, "" if none
	started  bool   // the response has started (or an error response was sent)
	err      error  // the save failed; the handler's output is dropped
}

// responseWriter saves the session before the response starts.
type responseWriter struct {
	http.ResponseWriter
	req *request
}

// WriteHeader saves the session, then sends the handler's status, or the
// error's if the save failed.
func (w *responseWriter) WriteHeader(code int) {
	if w.req.start(w.ResponseWriter) {
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write starts the response if needed; after a failed save it drops p.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.req.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.req.err != nil {
		return 0, w.req.err
	}
	return w.ResponseWriter.Write(p)
}

// Flush starts the response if needed and flushes it.
func (w *responseWriter) Flush() {
	if !w.req.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.req.err == nil {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish runs after the handler: it saves if the response has not started,
// and otherwise saves what changed after it started. A change it cannot save
// aborts the response (http.ErrAbortHandler), so the client never sees a
// complete success for a change that was lost.
func (w *responseWriter) finish() {
	q := w.req
	if !q.started {
		q.start(w.ResponseWriter)
		return
	}
	if q.err != nil {
		return
	}
	if q.s.needsCookie() {
		q.abort(fmt.Errorf("save session: %w: a new or renewed session needs its cookie", ErrResponseStarted))
	}
	if _, err := q.s.save(q.r.Context()); err != nil {
		q.abort(err)
	}
}

// start saves the session and sets its cookie on w before the response
// starts. It reports whether the handler's response may go out.
func (q *request) start(w http.ResponseWriter) bool {
	if q.started {
		return q.err == nil
	}
	q.started = true
	res, err := q.s.save(q.r.Context())
	if err != nil {
		q.err = err
		q.m.fail(w, q.r, err)
		return false
	}
	q.setCookie(w, res)
	return true
}

func (q *request) abort(err error) {
	q.m.cfg.Logger.Error("kiln: session save failed after the response started; aborting it",
		"method", q.r.Method, "path", q.r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

// setCookie sends the cookie a save calls for: the new ID, a deletion, or
// the ID with this node's suffix.
func (q *request) setCookie(w http.ResponseWriter, res saveResult) {
	id, deadline, stored := q.s.cookieState()
	switch {
	case res == savedEnded || (!stored && q.incoming != ""):
		if q.incoming != "" {
			http.SetCookie(w, q.cookie("", -1))
		}
	case res == savedCreated || (stored && q.incoming != id):
		maxAge := 0
		if q.m.cfg.PersistentCookie {
			maxAge = max(int(deadline.Sub(q.m.now())/time.Second), 1)
		}
		http.SetCookie(w, q.cookie(id, maxAge))
	}
}

func (q *request) cookie(value string, maxAge int) *http.Cookie {
	c := q.m.cfg.Cookie // a copy of the template
	c.Value, c.MaxAge = value, maxAge
	c.Secure = c.Secure || q.r.TLS != nil
	return &c
}

// cookieState returns what the cookie must carry.
func (s *Session) cookieState() (id string, deadline time.Time, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored {
		return "", time.Time{}, false
	}
	return s.m.idFor(s.base), s.meta.Deadline, true
}

// needsCookie reports whether saving now would create or rename the session.
func (s *Session) needsCookie() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.renew && s.stored {
		return true
	}
	if s.stored || s.invalidate {
		return false
	}
	changes, err := s.changes()
	return err == nil && (len(changes) > 0 || s.metaDirty)
}
