// Package codec hands mp's value codec to the module's other packages (mpnats) without making
// it part of mp's public API. Package mp sets the functions in its init; a package that imports
// mp may call them from its own init on.
package codec

import (
	"context"
	"reflect"
)

var (
	// Encode encodes v with mp's codec (CBOR, with mp's type checks: a value that would not
	// arrive intact, or that holds a handle, is an mp.ErrEncode error). what names the value
	// in the error.
	Encode func(what string, v any) ([]byte, error)

	// Decode decodes b into the value ptr points to with mp's codec and its default decoding
	// limits (mp.DecodeLimits) and allocation budget; a malformed message is an mp.ErrDecode
	// error.
	Decode func(what string, b []byte, ptr any) error

	// CheckType reports an mp.ErrEncode error if values of t cannot cross processes intact, as
	// mp.NewQueue does for its element type; ctor names the constructor in the error.
	CheckType func(ctor string, t reflect.Type) error

	// Apply runs fn, which must be an *mp.UpdateFunc (else ok is false), on the encoded current
	// value cur (present or not) and encoded argument, and returns the encoded new value.
	Apply func(ctx context.Context, fn any, cur []byte, present bool, arg []byte) (nv []byte, ok bool, err error)
)
