package kiln_test

import (
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/kilnhq/kiln"
)

// The struct types of TestTypes_Change, before and after a change.
type (
	userV1    struct{ Name string }
	userAdded struct {
		Name string
		Age  int
	}
	userRemoved struct{ Name string }
	userFull    struct {
		Name string
		Age  int
	}
	userRenamed    struct{ FullName string }
	userRenamedTag struct {
		FullName string `cbor:"Name"`
	}
	userCase struct{ NAME string }
	ageInt   struct {
		Name string
		Age  int
	}
	ageInt64 struct {
		Name string
		Age  int64
	}
	ageInt8 struct {
		Name string
		Age  int8
	}
	ageUint struct {
		Name string
		Age  uint
	}
	ageFloat struct {
		Name string
		Age  float64
	}
	ageString struct {
		Name string
		Age  string
	}
	homeValue   struct{ Home address }
	homePointer struct{ Home *address }
	tagsSlice   struct{ Tags []string }
	tagsMap     struct{ Tags map[string]bool }
	tagsString  struct{ Tags string }
)

// getAs is kiln.Get[T] with the value as any, for tables over types.
func getAs[T any](s *kiln.Session, name string) (any, error) {
	v, _, err := kiln.Get[T](s, name)
	return v, err
}

// TestTypes_Change (issue 13, docs/types.md): what a handler gets when the
// Go type of a stored attribute changed between the request that stored
// it and the one that reads it. Changes the stored form absorbs are
// silent (an added field is zero, a removed one ignored, a renamed one
// lost unless tagged with the old name); a value that no longer fits
// fails that attribute alone with ErrDecode: the hook's case.
func TestTypes_Change(t *testing.T) {
	cases := []struct {
		name   string
		before any
		get    func(*kiln.Session, string) (any, error)
		want   any // nil: ErrDecode
	}{
		{"FieldAdded", userV1{"Ada"}, getAs[userAdded], userAdded{Name: "Ada"}},
		{"FieldRemoved", userFull{"Ada", 36}, getAs[userRemoved], userRemoved{"Ada"}},
		{"FieldRenamed", userV1{"Ada"}, getAs[userRenamed], userRenamed{}},
		{"FieldRenamedTagged", userV1{"Ada"}, getAs[userRenamedTag], userRenamedTag{"Ada"}},
		{"FieldNameCase", userV1{"Ada"}, getAs[userCase], userCase{"Ada"}},
		{"IntToInt64", ageInt{"Ada", 36}, getAs[ageInt64], ageInt64{"Ada", 36}},
		{"IntToSmallerFits", ageInt{"Ada", 36}, getAs[ageInt8], ageInt8{"Ada", 36}},
		{"IntToSmallerOverflows", ageInt{"Ada", 300}, getAs[ageInt8], nil},
		{"IntToUint", ageInt{"Ada", 36}, getAs[ageUint], ageUint{"Ada", 36}},
		{"NegativeToUint", ageInt{"Ada", -1}, getAs[ageUint], nil},
		{"IntToFloat", ageInt{"Ada", 36}, getAs[ageFloat], ageFloat{"Ada", 36}},
		{"IntToString", ageInt{"Ada", 36}, getAs[ageString], nil},
		{"StringToInt", ageString{"Ada", "36"}, getAs[ageInt], nil},
		{"ValueToPointer", homeValue{address{"Main St", 1}}, getAs[homePointer], homePointer{&address{"Main St", 1}}},
		{"PointerToValue", homePointer{&address{"Main St", 1}}, getAs[homeValue], homeValue{address{"Main St", 1}}},
		{"SliceToMap", tagsSlice{[]string{"x"}}, getAs[tagsMap], nil},
		{"SliceToString", tagsSlice{[]string{"x"}}, getAs[tagsString], nil},
		{"StructToSlice", userV1{"Ada"}, getAs[[]string], nil},
	}
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := sessionCookie(serve(t, m, "", func(_ http.ResponseWriter, r *http.Request) {
				s := kiln.FromContext(r.Context())
				s.Put("v", tc.before)
				s.Put("other", 7)
			}))
			serve(t, m, id, func(_ http.ResponseWriter, r *http.Request) {
				s := kiln.FromContext(r.Context())
				got, err := tc.get(s, "v")
				switch {
				case tc.want == nil && !errors.Is(err, kiln.ErrDecode):
					t.Errorf("%T into the new type: %#v, %v; want ErrDecode", tc.before, got, err)
				case tc.want != nil && (err != nil || !reflect.DeepEqual(got, tc.want)):
					t.Errorf("%T into the new type: %#v, %v; want %#v", tc.before, got, err, tc.want)
				}
				if n, _, err := kiln.Get[int](s, "other"); n != 7 || err != nil {
					t.Errorf("the other attribute: %d, %v; want 7: the rest of the session survives", n, err)
				}
			})
		})
	}
}

// TestTypes_ReadRewrites (docs/types.md): reading a value with a type that
// lacks some of its stored fields (a field removed or renamed in the new
// release) must not rewrite it without them: a rolling deploy's new nodes
// would otherwise erase data its old nodes still use. Only a change (here a
// Put) saves the narrower value.
func TestTypes_ReadRewrites(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	for name, read := range map[string]func(*kiln.Session, string) (any, error){
		"FieldRemoved": getAs[userRemoved],
		"FieldRenamed": getAs[userRenamed],
	} {
		t.Run(name, func(t *testing.T) {
			id := sessionCookie(serve(t, m, "", func(_ http.ResponseWriter, r *http.Request) {
				kiln.FromContext(r.Context()).Put("v", userFull{"Ada", 36})
			}))
			serve(t, m, id, func(_ http.ResponseWriter, r *http.Request) { read(kiln.FromContext(r.Context()), "v") })
			serve(t, m, id, func(_ http.ResponseWriter, r *http.Request) {
				got, _, err := kiln.Get[userFull](kiln.FromContext(r.Context()), "v")
				if err != nil || got != (userFull{"Ada", 36}) {
					t.Errorf("after a read with the narrower type: %+v, %v; want every field kept", got, err)
				}
			})
		})
	}
}
