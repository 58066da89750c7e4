package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestOwnModule (issue 16, item 7): what a user does in a module of their
// own, as README.md says, works: the program of "Add kiln to your app"
// builds, and kiln registered as a tool of the module runs with `go tool
// kiln`. (README: `go get -tool github.com/kilnhq/kiln/cmd/kiln`; here the
// two steps it makes, `go mod edit -tool` and `go mod tidy`, because the
// module is only on disk: asking the proxy for an unpublished path fails.)
// Before, `go run github.com/kilnhq/kiln/cmd/kiln` in such a module
// stopped at "missing go.sum entry ... go.yaml.in/yaml/v3".
func TestOwnModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kiln in a module of its own")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module example.com/myapp\n\ngo 1.26.0\n\nrequire github.com/kilnhq/kiln v0.0.0\n\nreplace github.com/kilnhq/kiln => " + repo + "\n"
	mustWrite(t, filepath.Join(dir, "go.mod"), gomod)
	mustWrite(t, filepath.Join(dir, "main.go"), readmeProgram(t, filepath.Join(repo, "README.md")))

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	goCmd("mod", "edit", "-tool=github.com/kilnhq/kiln/cmd/kiln")
	goCmd("mod", "tidy")
	goCmd("build", "-o", filepath.Join(dir, "myapp"), ".")
	if out := goCmd("tool", "kiln", "version"); !strings.HasPrefix(out, "kiln ") {
		t.Fatalf("go tool kiln version: %q, want 'kiln <version> <go>'", out)
	}
	if out := goCmd("run", "github.com/kilnhq/kiln/cmd/kiln", "version"); !strings.HasPrefix(out, "kiln ") {
		t.Fatalf("go run github.com/kilnhq/kiln/cmd/kiln version: %q", out)
	}
}

// readmeProgram returns the Go program README.md shows: its code block
// that starts with "package main".
func readmeProgram(t *testing.T, path string) string {
	t.Helper()
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```go\npackage main\n")
	program, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("README.md shows no program (a ```go block starting with package main)")
	}
	return "package main\n" + program
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
