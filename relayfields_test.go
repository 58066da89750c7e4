package kiln

import (
	"strings"
	"testing"
)

// splitFields must accept exactly what strings.Split accepted before it:
// five fields separated by single spaces, empty fields included.
func TestSplitFields_AsSplit(t *testing.T) {
	for _, s := range []string{"", "a", "a b c d", "a b c d e", "a b c d e f", "a  b c d", "a b c d ",
		" a b c d", "tok n1 127.0.0.1:5 0 -", "tok n1 127.0.0.1:5 771 example.com", "a b c d e "} {
		var f [5]string
		ok := splitFields(s, &f)
		want := strings.Split(s, " ")
		if ok != (len(want) == 5) {
			t.Fatalf("%q: ok %v, strings.Split gives %d fields", s, ok, len(want))
		}
		if ok && [5]string(want) != f {
			t.Fatalf("%q: %q, want %q", s, f, want)
		}
	}
}
