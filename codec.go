package mp

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Arguments and results cross the process boundary by value, encoded as CBOR. Exported struct
// fields, numbers, strings, byte slices, slices, arrays, maps, pointers to those and types that
// implement encoding.BinaryMarshaler or cbor.Marshaler travel; channels, functions and unsafe
// pointers do not, and are reported as an error that names the type. Unexported struct fields are
// not sent (the child sees their zero value). Decoding never runs code beyond the target type's
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

// encodeValue encodes v; what says what it is ("argument", "result") for the error message.
func encodeValue(what string, v any) ([]byte, error) {
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
