package mp

import (
	"fmt"
	"reflect"
	"sync"
)

// Complex numbers. CBOR has no complex type, and the codec refuses complex64 and complex128. So a
// type that holds complex numbers is encoded through a mirror of itself: the same type with every
// complex128 replaced by a [2]float64 and every complex64 by a [2]float32 (real part first), which
// the codec encodes as a CBOR array of two floats. The mirror is built once per type (with
// reflect.StructOf for structs, keeping the fields' names and tags) and values are copied into it
// before encoding and out of it after decoding; a type with no complex number in it pays one
// cached lookup. Slices of complex numbers in a Map's chunks, and complex queue items, travel as
// their memory, as other plain numbers do (see plainType).
//
// What is not supported, and refused when the type is checked (Register, NewQueue, Pipe): a
// complex number inside a recursive type, or inside an embedded struct that reflect.StructOf cannot
// rebuild. A complex number behind an interface (an `any` field) is refused when encoded: the
// receiver could not tell it from two floats.

// complexMirror is the mirror of one type.
type complexMirror struct {
	t       reflect.Type // nil: the type holds no complex number and is encoded as it is
	problem string       // why the mirror cannot be built, or ""
}

var complexMirrors sync.Map // reflect.Type → *complexMirror

// mirrorFields maps a mirror struct type and its original to the indexes, in the original, of
// the mirror's fields. Two structs can have the same mirror, so the original is part of the key.
var mirrorFields sync.Map // mirrorKey → []int

type mirrorKey struct{ mirror, orig reflect.Type }

var (
	complex128Wire = reflect.TypeFor[[2]float64]()
	complex64Wire  = reflect.TypeFor[[2]float32]()
)

// complexMirrorOf returns the mirror of t.
func complexMirrorOf(t reflect.Type) *complexMirror {
	if m, ok := complexMirrors.Load(t); ok {
		return m.(*complexMirror)
	}
	m := &complexMirror{}
	func() {
		defer func() {
			if r := recover(); r != nil { // reflect.StructOf refused a struct
				m.t, m.problem = nil, fmt.Sprintf("it holds complex numbers, which are encoded through a copy of the type that reflect cannot build (%v): give the embedded fields names, or store the numbers as two float64 fields", r)
			}
		}()
		var err error
		m.t, err = buildMirror(t, map[reflect.Type]bool{})
		if err != nil {
			m.problem = err.Error()
		}
	}()
	complexMirrors.Store(t, m)
	return m
}

// buildMirror returns the mirror type of t, or nil when t holds no complex number.
func buildMirror(t reflect.Type, building map[reflect.Type]bool) (reflect.Type, error) {
	if isHandleType(t) || codecOwnTypes[t] || honouredMarshaler(t) != "" {
		return nil, nil // encoded by its own rules
	}
	switch t.Kind() {
	case reflect.Complex128:
		return complex128Wire, nil
	case reflect.Complex64:
		return complex64Wire, nil
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
	default:
		return nil, nil
	}
	if building[t] {
		if hasComplex(t, map[reflect.Type]bool{}) {
			return nil, fmt.Errorf("the recursive type %s holds complex numbers, which the codec cannot encode there; store them as two float64 fields", t)
		}
		return nil, nil
	}
	building[t] = true
	defer delete(building, t)
	switch t.Kind() {
	case reflect.Pointer:
		e, err := buildMirror(t.Elem(), building)
		if e == nil || err != nil {
			return nil, err
		}
		return reflect.PointerTo(e), nil
	case reflect.Slice:
		e, err := buildMirror(t.Elem(), building)
		if e == nil || err != nil {
			return nil, err
		}
		return reflect.SliceOf(e), nil
	case reflect.Array:
		e, err := buildMirror(t.Elem(), building)
		if e == nil || err != nil {
			return nil, err
		}
		return reflect.ArrayOf(t.Len(), e), nil
	case reflect.Map:
		k, err := buildMirror(t.Key(), building)
		if err != nil {
			return nil, err
		}
		e, err := buildMirror(t.Elem(), building)
		if err != nil || (k == nil && e == nil) {
			return nil, err
		}
		if k == nil {
			k = t.Key()
		}
		if e == nil {
			e = t.Elem()
		}
		return reflect.MapOf(k, e), nil
	}
	// A struct: its exported fields (and embedded ones), mirrored where they hold complex numbers.
	var fields []reflect.StructField
	var index []int
	changed := false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue // the codec leaves it out (the type check made sure that loses nothing)
		}
		ft, err := buildMirror(f.Type, building)
		if err != nil {
			return nil, err
		}
		if ft != nil {
			changed = true
		} else {
			ft = f.Type
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: ft, Tag: f.Tag, Anonymous: f.Anonymous})
		index = append(index, i)
	}
	if !changed {
		return nil, nil
	}
	mt := reflect.StructOf(fields)
	mirrorFields.Store(mirrorKey{mt, t}, index)
	return mt, nil
}

// hasComplex reports whether values of t can hold a complex number, not counting what lies
// behind interfaces or inside types with their own encoding.
func hasComplex(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] || isHandleType(t) || codecOwnTypes[t] || honouredMarshaler(t) != "" {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return hasComplex(t.Elem(), seen)
	case reflect.Map:
		return hasComplex(t.Key(), seen) || hasComplex(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if hasComplex(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// toComplexWire returns v as its mirror when its type holds complex numbers, else v itself.
func toComplexWire(v any) any {
	if v == nil {
		return nil
	}
	m := complexMirrorOf(reflect.TypeOf(v))
	if m.t == nil {
		return v
	}
	dst := reflect.New(m.t).Elem()
	copyMirror(dst, reflect.ValueOf(v))
	return dst.Interface()
}

// copyMirror copies src into dst, a zero value, where one of the two types is the other's mirror
// (or both are the same type).
func copyMirror(dst, src reflect.Value) {
	if dst.Type() == src.Type() {
		dst.Set(src)
		return
	}
	switch dst.Kind() {
	case reflect.Complex64, reflect.Complex128:
		dst.SetComplex(complex(src.Index(0).Float(), src.Index(1).Float()))
	case reflect.Array:
		if k := src.Kind(); k == reflect.Complex64 || k == reflect.Complex128 {
			c := src.Complex()
			dst.Index(0).SetFloat(real(c))
			dst.Index(1).SetFloat(imag(c))
			return
		}
		for i := range dst.Len() {
			copyMirror(dst.Index(i), src.Index(i))
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(dst.Type().Elem())
		copyMirror(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(dst.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			copyMirror(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(dst.Type(), src.Len())
		kt, et := dst.Type().Key(), dst.Type().Elem()
		for it := src.MapRange(); it.Next(); {
			k, e := reflect.New(kt).Elem(), reflect.New(et).Elem()
			copyMirror(k, it.Key())
			copyMirror(e, it.Value())
			m.SetMapIndex(k, e)
		}
		dst.Set(m)
	case reflect.Struct:
		if index, ok := mirrorFields.Load(mirrorKey{dst.Type(), src.Type()}); ok { // into the mirror
			for i, j := range index.([]int) {
				copyMirror(dst.Field(i), src.Field(j))
			}
			return
		}
		index, _ := mirrorFields.Load(mirrorKey{src.Type(), dst.Type()}) // out of the mirror
		for i, j := range index.([]int) {
			copyMirror(dst.Field(j), src.Field(i))
		}
	}
}
