package mp

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
)

// Arguments and results cross the process boundary by value, encoded as CBOR. Exported struct
// fields, numbers, strings, byte slices, slices, arrays, maps, pointers to those and types that
// implement encoding.BinaryMarshaler or cbor.Marshaler travel; channels, functions and unsafe
// pointers do not. A type whose values would not arrive intact — a struct with an unexported
// field, which the codec would drop, or with a field of a kind it cannot encode — is refused
// before any value crosses, with an error naming the field (see typecheck.go): Register panics,
// NewQueue and Pipe fail, and a value behind an interface fails the call that encodes it. Fields
// tagged `cbor:"-"` are left out on purpose. Decoding never runs code beyond the target type's
// own unmarshal methods, and is bounded: nesting depth, element counts and map sizes are capped,
// so a malformed message is an error, never a crash or a runaway allocation.

var (
	codecEnc cbor.EncMode
	codecDec cbor.DecMode
)

func init() {
	var err error
	codecEnc, err = cbor.EncOptions{
		Time:          cbor.TimeRFC3339Nano,
		ShortestFloat: cbor.ShortestFloatNone,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	codecDec, err = cbor.DecOptions{
		MaxNestedLevels:  256,
		MaxArrayElements: 1<<31 - 1,
		MaxMapPairs:      1<<31 - 1,
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// encodeValue encodes v, which may not hold handles; what says what it is ("argument", "result")
// for the error message.
func encodeValue(what string, v any) ([]byte, error) {
	b, _, err := encodeWith(what, v, false)
	return b, err
}

// marshalValue encodes v as CBOR.
func marshalValue(what string, v any) ([]byte, error) {
	if err := checkEncode(what, v); err != nil {
		return nil, err
	}
	b, err := codecEnc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s of type %s: %v", ErrEncode, what, typeName(v), err)
	}
	return b, nil
}

// decodeValue decodes b into *v.
func decodeValue[T any](what string, b []byte, v *T) error {
	if err := codecDec.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s into %s: %v", ErrDecode, what, reflect.TypeFor[T](), err)
	}
	return nil
}

func typeName(v any) string {
	if v == nil {
		return "<nil>"
	}
	return reflect.TypeOf(v).String()
}

// Slices of plain numbers — the arguments and results of a map over ints or floats — skip the
// codec: they travel as their bytes in memory, since parent and child are the same binary on the
// same machine. Anything else is a CBOR array.

// plainType reports whether values of t are numbers (or arrays of numbers) whose memory can be
// copied between processes of the same binary as they are.
func plainType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return plainType(t.Elem())
	}
	return false
}

// encodeSlice encodes xs as one value: its memory for a plain type, else a CBOR array. The
// descriptors returned are those of the handles in xs, owned by the caller.
// Handles are refused unless allow is set.
func encodeSlice[T any](what string, xs []T, allow bool) ([]byte, []int, error) {
	if plainType(reflect.TypeFor[T]()) {
		if len(xs) == 0 {
			return nil, nil, nil
		}
		size := int(unsafe.Sizeof(xs[0]))
		raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(xs))), len(xs)*size)
		return append([]byte(nil), raw...), nil, nil
	}
	return encodeWith(what, xs, allow)
}

// decodeSlice decodes n values encoded by encodeSlice, building their handles over fds, which it
// owns.
func decodeSlice[T any](what string, b []byte, fds []int, n int) ([]T, error) {
	if plainType(reflect.TypeFor[T]()) {
		closeFDs(fds)
		var zero T
		size := int(unsafe.Sizeof(zero))
		if len(b) != n*size {
			return nil, fmt.Errorf("%w: %s: %d bytes for %d values of %s", ErrDecode, what, len(b), n, reflect.TypeFor[T]())
		}
		xs := make([]T, n)
		if n > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(xs))), len(b)), b)
		}
		return xs, nil
	}
	var xs []T
	if err := decodeArg(what, b, fds, &xs); err != nil {
		return nil, err
	}
	if len(xs) != n {
		return nil, fmt.Errorf("%w: %s: %d values, expected %d", ErrDecode, what, len(xs), n)
	}
	return xs, nil
}
