package server

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path over DefaultConfig. Unknown fields,
// values of the wrong type and syntax errors are errors that name the
// file, the line and the field. Load does not Validate; a Config it
// returns remembers the line of each field, so Validate's errors do too.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data)
}

// parse decodes data, read from file, over DefaultConfig.
func parse(file string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	ix := fieldIndex{lines: make(map[string]int), tags: make(map[string]string)}
	if len(root.Content) > 0 {
		ix.add(root.Content[0], "")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, decodeError(file, ix, err)
	}
	cfg.origin = origin{file: file, lines: ix.lines}
	return cfg, nil
}

// fieldIndex knows, for every field path in a file, the line it is on and
// the YAML tag of its value ("!!seq", "!!str").
type fieldIndex struct {
	lines map[string]int
	tags  map[string]string
}

// add records the fields under n, path its own path.
func (ix fieldIndex) add(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			ix.lines[p], ix.tags[p] = n.Content[i].Line, n.Content[i+1].ShortTag()
			ix.add(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			ix.lines[p], ix.tags[p] = c.Line, c.ShortTag()
			ix.add(c, p)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlLine matches one of yaml's type errors: "line 3: ...".
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeError rewrites yaml's decode error, which names Go types, into
// one naming the file, line and field: the first problem only.
func decodeError(file string, ix fieldIndex, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	m := yamlLine.FindStringSubmatch(te.Errors[0])
	if m == nil {
		return fmt.Errorf("%s: %s", file, te.Errors[0])
	}
	line, _ := strconv.Atoi(m[1])
	field, msg := ix.explain(m[2], line)
	return &FieldError{Field: field, Where: fmt.Sprintf("%s: line %d", file, line), Err: errors.New(msg)}
}

// at lists the fields on line, deepest last.
func (ix fieldIndex) at(line int) []string {
	var fs []string
	for f, l := range ix.lines {
		if l == line {
			fs = append(fs, f)
		}
	}
	// Deeper paths are longer; among equals, order by name for stable output.
	slices.SortFunc(fs, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
	})
	return fs
}

var (
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	cannotDecode = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `[^`]*`)? into (\\S+)$")
)

// explain turns one of yaml's messages about line into the field it is
// about and words without Go types.
func (ix fieldIndex) explain(msg string, line int) (field, why string) {
	fields := ix.at(line)
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return pick(fields, func(f string) bool { return f == m[1] || strings.HasSuffix(f, "."+m[1]) }), "unknown field"
	}
	if m := cannotDecode.FindStringSubmatch(msg); m != nil {
		return pick(fields, func(f string) bool { return ix.tags[f] == m[1] }),
			fmt.Sprintf("want %s, got %s", goKind(m[2]), yamlKind(m[1]))
	}
	return pick(fields, func(string) bool { return false }), msg
}

// pick is the deepest of fields that match, else the deepest.
func pick(fields []string, match func(string) bool) string {
	for i := len(fields) - 1; i >= 0; i-- {
		if match(fields[i]) {
			return fields[i]
		}
	}
	if len(fields) == 0 {
		return "(top level)"
	}
	return fields[len(fields)-1]
}

func yamlKind(tag string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true/false"
	}
	return tag
}

func goKind(typ string) string {
	switch {
	case typ == "string":
		return "a string"
	case typ == "bool":
		return "true or false"
	case strings.HasPrefix(typ, "int") || strings.HasPrefix(typ, "uint"):
		return "an integer"
	case strings.HasPrefix(typ, "[]"):
		return "a list"
	case strings.HasPrefix(typ, "server.") || strings.HasPrefix(typ, "*server."):
		return "a mapping"
	}
	return typ
}
