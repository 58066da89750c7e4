package kiln_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestREADME_ShowsTheProgram (issue 16, item 8): the program README.md
// shows is the one example_program_test.go compiles, so it cannot rot.
func TestREADME_ShowsTheProgram(t *testing.T) {
	src, err := os.ReadFile("example_program_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "example_program_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var run string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "run" {
			run = string(src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset])
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if run == "" || !strings.Contains(string(readme), run) {
		t.Fatalf("README.md does not show func run of example_program_test.go verbatim:\n%s", run)
	}
}
