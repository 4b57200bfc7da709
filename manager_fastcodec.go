package mp

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// The manager's fast codec for the basic types that keys and values most often are (string,
// []byte, bool and the integers): appendBasic writes exactly the bytes the package's codec
// writes for them (CBOR, shortest heads), into the caller's buffer, with no reflection and no
// allocation, and decodeBasic reads the plain well-formed encodings of them back. Anything else,
// and any encoding decodeBasic is not sure of, goes through the codec as before: these are
// shortcuts, never a second dialect (manager_fastcodec_internal_test.go checks both against the
// codec). Floats stay with the codec, which changes NaNs and infinities on the way.

// appendBasic appends the encoding of v to dst when v's type is one the fast codec knows.
func appendBasic[T any](dst []byte, v T) ([]byte, bool) {
	switch x := any(v).(type) {
	case string:
		return append(appendHead(dst, 3, uint64(len(x))), x...), true
	case []byte:
		if x == nil {
			return append(dst, 0xf6), true // the codec writes a nil slice as null
		}
		return append(appendHead(dst, 2, uint64(len(x))), x...), true
	case bool:
		if x {
			return append(dst, 0xf5), true
		}
		return append(dst, 0xf4), true
	case int:
		return appendInt(dst, int64(x)), true
	case int8:
		return appendInt(dst, int64(x)), true
	case int16:
		return appendInt(dst, int64(x)), true
	case int32:
		return appendInt(dst, int64(x)), true
	case int64:
		return appendInt(dst, x), true
	case uint:
		return appendHead(dst, 0, uint64(x)), true
	case uint8:
		return appendHead(dst, 0, uint64(x)), true
	case uint16:
		return appendHead(dst, 0, uint64(x)), true
	case uint32:
		return appendHead(dst, 0, uint64(x)), true
	case uint64:
		return appendHead(dst, 0, x), true
	}
	return dst, false
}

// basicType reports whether T is one the fast codec knows: its decoding runs no code of the
// user's (no UnmarshalCBOR), so it may run under a table's lock.
func basicType[T any]() bool {
	var zero T
	_, ok := appendBasic(nil, zero)
	return ok
}

func appendInt(dst []byte, x int64) []byte {
	if x >= 0 {
		return appendHead(dst, 0, uint64(x))
	}
	return appendHead(dst, 1, uint64(^x)) // -1-x
}

// appendHead appends a CBOR head: major type and argument, in the shortest form.
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= math.MaxUint8:
		return append(dst, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), n)
}

// readHead reads a CBOR head with a definite argument: major type, argument, and the head's
// length; ok is false for anything else (an indefinite length, a reserved form, too few bytes).
func readHead(b []byte) (major byte, n uint64, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, 0, false
	}
	major, info := b[0]>>5, b[0]&31
	switch {
	case info < 24:
		return major, uint64(info), 1, true
	case info == 24 && len(b) >= 2:
		return major, uint64(b[1]), 2, true
	case info == 25 && len(b) >= 3:
		return major, uint64(binary.BigEndian.Uint16(b[1:])), 3, true
	case info == 26 && len(b) >= 5:
		return major, uint64(binary.BigEndian.Uint32(b[1:])), 5, true
	case info == 27 && len(b) >= 9:
		return major, binary.BigEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, 0, false
}

// decodeBasic decodes b into *v when *v's type is one the fast codec knows and b is the plain,
// whole encoding of a value of it; false means: ask the codec (which also says what is wrong).
func decodeBasic[T any](b []byte, v *T) bool {
	major, n, size, ok := readHead(b)
	if !ok {
		return false
	}
	switch p := any(v).(type) {
	case *string:
		if major != 3 || n != uint64(len(b)-size) || !utf8.Valid(b[size:]) {
			return false
		}
		*p = string(b[size:])
	case *[]byte:
		if len(b) == 1 && b[0] == 0xf6 {
			*p = nil
			return true
		}
		if major != 2 || n != uint64(len(b)-size) {
			return false
		}
		*p = append([]byte{}, b[size:]...)
	case *bool:
		if len(b) != 1 || b[0] != 0xf4 && b[0] != 0xf5 {
			return false
		}
		*p = b[0] == 0xf5
	case *int:
		x, ok := basicInt(major, n, size, b, math.MinInt, math.MaxInt)
		if ok {
			*p = int(x)
		}
		return ok
	case *int8:
		x, ok := basicInt(major, n, size, b, math.MinInt8, math.MaxInt8)
		if ok {
			*p = int8(x)
		}
		return ok
	case *int16:
		x, ok := basicInt(major, n, size, b, math.MinInt16, math.MaxInt16)
		if ok {
			*p = int16(x)
		}
		return ok
	case *int32:
		x, ok := basicInt(major, n, size, b, math.MinInt32, math.MaxInt32)
		if ok {
			*p = int32(x)
		}
		return ok
	case *int64:
		x, ok := basicInt(major, n, size, b, math.MinInt64, math.MaxInt64)
		if ok {
			*p = x
		}
		return ok
	case *uint:
		x, ok := basicUint(major, n, size, b, math.MaxUint)
		if ok {
			*p = uint(x)
		}
		return ok
	case *uint8:
		x, ok := basicUint(major, n, size, b, math.MaxUint8)
		if ok {
			*p = uint8(x)
		}
		return ok
	case *uint16:
		x, ok := basicUint(major, n, size, b, math.MaxUint16)
		if ok {
			*p = uint16(x)
		}
		return ok
	case *uint32:
		x, ok := basicUint(major, n, size, b, math.MaxUint32)
		if ok {
			*p = uint32(x)
		}
		return ok
	case *uint64:
		x, ok := basicUint(major, n, size, b, math.MaxUint64)
		if ok {
			*p = x
		}
		return ok
	default:
		return false
	}
	return true
}

// basicInt is the integer of a whole encoding b whose head decodeBasic read, if it is one in
// [lo, hi].
func basicInt(major byte, n uint64, size int, b []byte, lo, hi int64) (int64, bool) {
	if size != len(b) || n > math.MaxInt64 {
		return 0, false
	}
	switch major {
	case 0:
		return int64(n), int64(n) <= hi
	case 1:
		x := -1 - int64(n)
		return x, x >= lo
	}
	return 0, false
}

func basicUint(major byte, n uint64, size int, b []byte, hi uint64) (uint64, bool) {
	return n, major == 0 && size == len(b) && n <= hi
}

// managerDecoded is managerDecode returning the value: a value the fast codec decodes costs
// no allocation of its own (managerDecode's pointer escapes, into the codec), only what it holds.
func managerDecoded[T any](what string, b []byte) (T, error) {
	var v T
	if decodeBasic(b, &v) {
		return v, nil
	}
	p := new(T)
	err := managerDecode(what, b, p)
	return *p, err
}
