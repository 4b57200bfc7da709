package mp

import (
	"context"
	"fmt"
	"reflect"

	"github.com/mp-go/mp/internal/codec"
)

// The codec, as the module's other packages (mpnats) use it: see internal/codec.
func init() {
	codec.Encode = encodeValue
	codec.Decode = decodeReflect
	codec.CheckType = func(ctor string, t reflect.Type) error {
		if plainType(t) {
			return nil
		}
		if p := typeProblem(t); p != "" {
			return fmt.Errorf("%w: %s[%s]: values of %s cannot cross processes intact: %s", ErrEncode, ctor, t, t, p)
		}
		return nil
	}
	codec.Apply = func(ctx context.Context, fn any, cur []byte, present bool, arg []byte) ([]byte, bool, error) {
		u, ok := fn.(updater)
		if !ok {
			return nil, false, nil
		}
		nv, err := u.apply(ctx, cur, present, arg)
		return nv, true, err
	}
}

// decodeReflect is decodeValue for a pointer whose type is known at run time.
func decodeReflect(what string, b []byte, ptr any) error {
	pv := reflect.ValueOf(ptr)
	if pv.Kind() != reflect.Pointer || pv.IsNil() {
		return fmt.Errorf("%w: %s: decoding into %T, not a non-nil pointer", ErrDecode, what, ptr)
	}
	t := pv.Type().Elem()
	target := ptr
	built := t
	mirror := complexMirrorOf(t).t // complex numbers arrive as pairs of floats: codec_complex.go
	if mirror != nil {
		built, target = mirror, reflect.New(mirror).Interface()
	}
	if uint64(len(b))*perItemCost(built) > decodeBudget(len(b)) {
		if err := codecDec.Wellformed(b); err != nil {
			return decodeError(what, t, err)
		}
		if limit := decodeBudget(len(b)); !measureDecode(b, built, limit).ok {
			return fmt.Errorf("%w: %s into %s: %d bytes would build more than %d bytes (a receiver builds at most %d times the bytes received, plus 1 MiB)", ErrDecode, what, t, len(b), limit, decodeFactor)
		}
	}
	if err := codecDec.Unmarshal(b, target); err != nil {
		return decodeError(what, t, err)
	}
	if mirror != nil {
		copyMirror(pv.Elem(), reflect.ValueOf(target).Elem())
	}
	return nil
}
