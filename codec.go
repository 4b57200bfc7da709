package mp

import (
	"errors"
	"fmt"
	"math"
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
// own unmarshal methods, and is bounded, whatever the bytes say:
//
//   - nesting depth, array lengths and map sizes are capped (DecodeLimits; the defaults are
//     DefaultMaxDepth, DefaultMaxElements and DefaultMaxPairs);
//   - an array or map is allocated only once the codec has checked that all its elements are
//     there, so a length in a header never costs more than the bytes that follow it;
//   - decoding n bytes allocates at most decodeFactor·n + decodeSlack bytes (256·n + 1 MiB): for
//     target types whose elements are large (a slice of big structs, say, where one byte of CBOR
//     becomes a whole zero element), the message is measured against the target type before it
//     is decoded and refused if it would build more. Numbers and strings cost a few times their
//     bytes; values decoded into `any` up to about 70 times.
//
// A malformed message, or one over a limit, is an ErrDecode error, never a crash or a runaway
// allocation.

var (
	codecEnc cbor.EncMode
	codecDec cbor.DecMode
)

// Default decoding limits (see DecodeLimits).
const (
	// DefaultMaxDepth is the default limit on the nesting of arrays, maps and tags.
	DefaultMaxDepth = 256
	// DefaultMaxElements is the default limit on the length of one array or slice: 16 Mi
	// elements (a []float64 of 128 MiB).
	DefaultMaxElements = 1 << 24
	// DefaultMaxPairs is the default limit on the size of one map: 4 Mi pairs.
	DefaultMaxPairs = 1 << 22
)

// decodeFactor and decodeSlack bound what decoding a message of n bytes may allocate:
// decodeFactor·n + decodeSlack bytes.
const (
	decodeFactor = 256
	decodeSlack  = 1 << 20
)

// DecodeLimits bounds the values a receiver decodes from one message. A zero field means its
// default. Values out of range make the option that carries them fail with ErrInvalidOption.
// Exceeding a limit is an ErrDecode error that names it. The limits are set per pipe with
// WithDecodeLimits and apply to its Conns' Recv; task arguments and results and queue values
// are decoded with the defaults. Whatever the limits, decoding n bytes builds at most about
// 256·n + 1 MiB: for a target type with large elements, a message is measured against the type
// before it is decoded, and refused if it would build more. A DecodeLimits is a plain value.
type DecodeLimits struct {
	// MaxDepth is the deepest nesting of arrays, maps and tags: from 4 to 65535, default
	// DefaultMaxDepth.
	MaxDepth int
	// MaxElements is the most elements one array (a slice or array in Go) may have: at least
	// 16, default DefaultMaxElements.
	MaxElements int
	// MaxPairs is the most key-value pairs one map (or struct) may have: at least 16, default
	// DefaultMaxPairs.
	MaxPairs int
}

// withDefaults fills the zero fields of l.
func (l DecodeLimits) withDefaults() DecodeLimits {
	if l.MaxDepth == 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxElements == 0 {
		l.MaxElements = DefaultMaxElements
	}
	if l.MaxPairs == 0 {
		l.MaxPairs = DefaultMaxPairs
	}
	return l
}

// check reports a limit out of range.
func (l DecodeLimits) check() error {
	l = l.withDefaults()
	switch {
	case l.MaxDepth < 4 || l.MaxDepth > 65535:
		return fmt.Errorf("%w: DecodeLimits.MaxDepth %d; it must be between 4 and 65535", ErrInvalidOption, l.MaxDepth)
	case l.MaxElements < 16 || l.MaxElements > math.MaxInt32:
		return fmt.Errorf("%w: DecodeLimits.MaxElements %d; it must be between 16 and %d", ErrInvalidOption, l.MaxElements, math.MaxInt32)
	case l.MaxPairs < 16 || l.MaxPairs > math.MaxInt32:
		return fmt.Errorf("%w: DecodeLimits.MaxPairs %d; it must be between 16 and %d", ErrInvalidOption, l.MaxPairs, math.MaxInt32)
	}
	return nil
}

// decMode returns the codec's decoding mode for l, which must be in range.
func (l DecodeLimits) decMode() (cbor.DecMode, error) {
	l = l.withDefaults()
	if l == (DecodeLimits{}).withDefaults() && codecDec != nil {
		return codecDec, nil
	}
	return cbor.DecOptions{
		MaxNestedLevels:  l.MaxDepth,
		MaxArrayElements: l.MaxElements,
		MaxMapPairs:      l.MaxPairs,
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
	}.DecMode()
}

func init() {
	var err error
	codecEnc, err = cbor.EncOptions{
		Time:          cbor.TimeRFC3339Nano,
		ShortestFloat: cbor.ShortestFloatNone,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	codecDec, err = DecodeLimits{}.decMode()
	if err != nil {
		panic(err)
	}
}

// encodeValue encodes v, which may not hold handles; what says what it is ("argument", "result")
// for the error message.
func encodeValue(what string, v any) ([]byte, error) {
	b, _, err := encodeWith(what, v, false, false)
	return b, err
}

// marshalValue encodes v as CBOR.
func marshalValue(what string, v any) ([]byte, error) {
	if err := checkEncode(what, v); err != nil {
		return nil, err
	}
	b, err := codecEnc.Marshal(toComplexWire(v)) // complex numbers as pairs of floats: codec_complex.go
	if err != nil {
		return nil, fmt.Errorf("%w: %s of type %s: %v", ErrEncode, what, typeName(v), err)
	}
	return b, nil
}

// decodeValue decodes b into *v.
func decodeValue[T any](what string, b []byte, v *T) error {
	return decodeValueWith(codecDec, what, b, v)
}

// decodeValueWith decodes b into *v with dm, within the allocation budget of b's size.
func decodeValueWith[T any](dm cbor.DecMode, what string, b []byte, v *T) error {
	t := reflect.TypeFor[T]()
	var target any = v
	built := t                     // the type decoding builds
	mirror := complexMirrorOf(t).t // complex numbers arrive as pairs of floats: codec_complex.go
	if mirror != nil {
		built, target = mirror, reflect.New(mirror).Interface()
	}
	if uint64(len(b))*perItemCost(built) > decodeBudget(len(b)) {
		// The target's elements are large: measure what decoding b would build first.
		if err := dm.Wellformed(b); err != nil {
			return decodeError(what, t, err)
		}
		if limit := decodeBudget(len(b)); !measureDecode(b, built, limit).ok {
			return fmt.Errorf("%w: %s into %s: %d bytes would build more than %d bytes (a receiver builds at most %d times the bytes received, plus 1 MiB)", ErrDecode, what, t, len(b), limit, decodeFactor)
		}
	}
	if err := dm.Unmarshal(b, target); err != nil {
		return decodeError(what, t, err)
	}
	if mirror != nil {
		copyMirror(reflect.ValueOf(v).Elem(), reflect.ValueOf(target).Elem())
	}
	return nil
}

// decodeError is the error of decoding into t; one over a DecodeLimits limit says so.
func decodeError(what string, t reflect.Type, err error) error {
	var ea *cbor.MaxArrayElementsError
	var em *cbor.MaxMapPairsError
	var en *cbor.MaxNestedLevelError
	if errors.As(err, &ea) || errors.As(err, &em) || errors.As(err, &en) {
		return fmt.Errorf("%w: %s into %s: %v (see mp.DecodeLimits)", ErrDecode, what, t, err)
	}
	return fmt.Errorf("%w: %s into %s: %v", ErrDecode, what, t, err)
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
func encodeSlice[T any](what string, xs []T, allow, bulk bool) ([]byte, []int, error) {
	if plainType(reflect.TypeFor[T]()) {
		if len(xs) == 0 {
			return nil, nil, nil
		}
		size := int(unsafe.Sizeof(xs[0]))
		raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(xs))), len(xs)*size)
		return append([]byte(nil), raw...), nil, nil
	}
	return encodeWith(what, xs, allow, bulk)
}

// decodeSlice decodes n values encoded by encodeSlice, building their handles over fds, which it
// owns.
func decodeSlice[T any](what string, b []byte, fds []int, n int) ([]T, error) {
	if plainType(reflect.TypeFor[T]()) {
		closeFDs(fds)
		var zero T
		size := int(unsafe.Sizeof(zero))
		if n < 0 || size == 0 || len(b)%size != 0 || len(b)/size != n {
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
