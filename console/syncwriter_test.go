package console_test

import (
	"strings"
	"sync"
)

// syncWriter serialises writes to a strings.Builder, for log assertions.
type syncWriter struct {
	mu sync.Mutex // guards b
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
