package kiln

import (
	"encoding"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// What cannot round-trip through the codec is refused, as gob does: a
// struct field the codec skips silently (an unexported one) would come back
// as its zero value. Types are walked once and the verdict cached; values
// are walked only where their type holds interfaces, whose dynamic types
// the walk of the static type cannot see.
//
// Let through: fields tagged `cbor:"-"` (or `json:"-"`), left out on
// purpose; unexported embedded structs, whose exported fields are promoted;
// times, big integers and every type that marshals itself (cbor.Marshaler,
// encoding.BinaryMarshaler, encoding.TextMarshaler), whose contents are
// its own business.

// typeVerdict is what the walk of one type found.
type typeVerdict struct {
	err     error // the type cannot round-trip
	dynamic bool  // its values may hold interfaces: walk them too
}

var verdicts sync.Map // reflect.Type -> typeVerdict

// lostFieldError names a field that would be lost.
type lostFieldError struct {
	typ   reflect.Type
	field string
	at    []string // the fields leading to typ from the checked type, outermost first
	top   reflect.Type
}

func (e *lostFieldError) Error() string {
	msg := fmt.Sprintf("type %s: field %s is unexported and would not be stored (export it, or tag it `cbor:\"-\"` to leave it out)", e.typ, e.field)
	if len(e.at) > 0 {
		msg += fmt.Sprintf(", in %s.%s", e.top, strings.Join(e.at, "."))
	}
	return msg
}

// checkRoundTrip returns an error wrapping ErrEncode if v holds a field
// that would be lost.
func checkRoundTrip(v any) error {
	if v == nil {
		return nil
	}
	if err := checkValue(reflect.ValueOf(v), 0); err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return nil
}

// checkDecodable is checkRoundTrip for the type a value is decoded into.
func checkDecodable(t reflect.Type) error {
	if err := verdictOf(t).err; err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return nil
}

func verdictOf(t reflect.Type) typeVerdict {
	if v, ok := verdicts.Load(t); ok {
		return v.(typeVerdict)
	}
	verdict := walkType(t, map[reflect.Type]bool{})
	if e, ok := verdict.err.(*lostFieldError); ok {
		e.top = t
	}
	v, _ := verdicts.LoadOrStore(t, verdict)
	return v.(typeVerdict)
}

// maxValueDepth bounds the walk of a value; the codec refuses deeper
// nesting itself.
const maxValueDepth = 64

// checkValue checks v's type, then the dynamic types of the interfaces v
// holds, if it can hold any.
func checkValue(v reflect.Value, depth int) error {
	if !v.IsValid() || depth > maxValueDepth {
		return nil
	}
	verdict := verdictOf(v.Type())
	if verdict.err != nil || !verdict.dynamic {
		return verdict.err
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			return checkValue(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkValue(v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		return checkMap(v, depth)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); (f.IsExported() || f.Anonymous) && !skipped(f) {
				if err := checkValue(v.Field(i), depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkMap(v reflect.Value, depth int) error {
	for it := v.MapRange(); it.Next(); {
		if err := checkValue(it.Key(), depth+1); err != nil {
			return err
		}
		if err := checkValue(it.Value(), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// walkType returns why values of t cannot round-trip, and whether they
// can hold interfaces. visiting breaks the cycles of recursive types.
func walkType(t reflect.Type, visiting map[reflect.Type]bool) typeVerdict {
	if visiting[t] || marshalsItself(t) {
		return typeVerdict{}
	}
	switch t.Kind() {
	case reflect.Interface:
		return typeVerdict{dynamic: true}
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return walkType(t.Elem(), visiting)
	case reflect.Map:
		k, v := walkType(t.Key(), visiting), walkType(t.Elem(), visiting)
		if k.err == nil {
			k.err = v.err
		}
		return typeVerdict{err: k.err, dynamic: k.dynamic || v.dynamic}
	case reflect.Struct:
		visiting[t] = true
		defer delete(visiting, t)
		return walkStruct(t, visiting)
	}
	return typeVerdict{} // numbers, strings, bools; the codec refuses chans and funcs itself
}

func walkStruct(t reflect.Type, visiting map[reflect.Type]bool) typeVerdict {
	var out typeVerdict
	for i := range t.NumField() {
		f := t.Field(i)
		if skipped(f) {
			continue
		}
		if !f.IsExported() && !(f.Anonymous && indirect(f.Type).Kind() == reflect.Struct) {
			out.err = &lostFieldError{typ: t, field: f.Name}
			return out
		}
		v := walkType(f.Type, visiting)
		out.dynamic = out.dynamic || v.dynamic
		if e, ok := v.err.(*lostFieldError); ok {
			if !f.Anonymous {
				e.at = append([]string{f.Name}, e.at...)
			}
			out.err = e
			return out
		}
	}
	return out
}

// skipped reports whether the codec leaves f out on purpose: tagged "-".
func skipped(f reflect.StructField) bool {
	if tag, ok := f.Tag.Lookup("cbor"); ok {
		return tag == "-"
	}
	return f.Tag.Get("json") == "-"
}

func indirect(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

var (
	typeTime          = reflect.TypeFor[time.Time]()
	typeBigInt        = reflect.TypeFor[big.Int]()
	typeCBORMarshaler = reflect.TypeFor[cbor.Marshaler]()
	typeBinary        = reflect.TypeFor[encoding.BinaryMarshaler]()
	typeText          = reflect.TypeFor[encoding.TextMarshaler]()
)

// marshalsItself reports whether the codec encodes t by its own rules or
// its own methods rather than field by field.
func marshalsItself(t reflect.Type) bool {
	if t == typeTime || t == typeBigInt {
		return true
	}
	p := reflect.PointerTo(t)
	return p.Implements(typeCBORMarshaler) || p.Implements(typeBinary) || p.Implements(typeText)
}
