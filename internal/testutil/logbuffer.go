package testutil

import (
	"bytes"
	"strings"
	"sync"
)

// LogBuffer is a log destination (for slog handlers, or a process's
// stderr) that tests may read while it is written. Its zero value is ready
// to use; it is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines are the complete lines written so far, without their newlines.
func (b *LogBuffer) Lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

// Contains reports whether substr was written.
func (b *LogBuffer) Contains(substr string) bool {
	return strings.Contains(b.String(), substr)
}
