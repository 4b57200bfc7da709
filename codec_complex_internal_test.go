package mp

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type ccBase struct{ W complex64 }

type CCBase struct {
	W complex64
	K int
}

type ccOuter struct {
	CCBase
	Z    complex128 `cbor:"z"`
	N    int
	skip int `cbor:"-"`
	Tags map[complex128]string
	Grid [][]complex64
	Any  any
}

type ccRecursive struct {
	Z    complex128
	Next *ccRecursive
}

type ccEmbedsUnexported struct {
	ccBase
	Z complex128
}

type ZNamed complex128

type ccTwin struct {
	X int
	Z complex128
}

func roundTrip[T any](t *testing.T, in T) T {
	t.Helper()
	b, err := encodeValue("value", in)
	if err != nil {
		t.Fatalf("encode %T: %v", in, err)
	}
	var out T
	if err := decodeValue("value", b, &out); err != nil {
		t.Fatalf("decode %T: %v", in, err)
	}
	return out
}

func TestComplexCodec(t *testing.T) {
	if got := roundTrip(t, complex(1.5, -2)); got != complex(1.5, -2) {
		t.Fatalf("complex128: %v", got)
	}
	if got := roundTrip(t, complex64(complex(3, 4))); got != 3+4i {
		t.Fatalf("complex64: %v", got)
	}
	if got := roundTrip(t, ZNamed(7i)); got != 7i {
		t.Fatalf("named complex: %v", got)
	}
	in := ccOuter{CCBase: CCBase{W: 1i, K: 2}, Z: 5 - 1i, N: 3, skip: 9, Tags: map[complex128]string{1i: "i"},
		Grid: [][]complex64{{1, 2i}, nil}, Any: "plain"}
	out := roundTrip(t, in)
	if out.W != 1i || out.K != 2 || out.Z != 5-1i || out.N != 3 || out.skip != 0 || out.Tags[1i] != "i" ||
		len(out.Grid) != 2 || out.Grid[0][1] != 2i || out.Grid[1] != nil || out.Any != "plain" {
		t.Fatalf("ccOuter: %+v", out)
	}
	// The wire form: a pair of floats, under the field's own name, with the embedded fields
	// promoted as the codec promotes them.
	in.Tags = nil // complex keys are arrays, which a map[string]any cannot take
	b, _ := encodeValue("value", in)
	var generic map[string]any
	if err := decodeValue("value", b, &generic); err != nil {
		t.Fatal(err)
	}
	if z, ok := generic["z"].([]any); !ok || len(z) != 2 || z[0] != 5.0 || z[1] != -1.0 {
		t.Fatalf("wire form of field z: %#v (all: %v)", generic["z"], generic)
	}
	if _, ok := generic["W"]; !ok {
		t.Fatalf("embedded field W not promoted: %v", generic)
	}
	// Two structs with the same mirror keep their own field positions.
	type twin2 struct{ Z complex128 }
	if got := roundTrip(t, ccTwin{X: 1, Z: 2i}); got != (ccTwin{1, 2i}) {
		t.Fatalf("ccTwin: %+v", got)
	}
	if got := roundTrip(t, twin2{Z: 3i}); got != (twin2{3i}) {
		t.Fatalf("twin2: %+v", got)
	}
	// Types without complex numbers are encoded as they are.
	if m := complexMirrorOf(reflect.TypeFor[struct{ A []string }]()); m.t != nil || m.problem != "" {
		t.Fatalf("mirror of a type without complex numbers: %+v", m)
	}
}

func TestComplexRefused(t *testing.T) {
	for _, c := range []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[ccRecursive](), "recursive type"},
		{reflect.TypeFor[ccEmbedsUnexported](), "give the embedded fields names"},
	} {
		if p := typeProblem(c.t); !strings.Contains(p, c.want) {
			t.Errorf("%s: problem %q, want it to mention %q", c.t, p, c.want)
		}
	}
	err := checkEncode("value", ccOuter{Any: 1i})
	if !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), "behind an interface") {
		t.Fatalf("a complex number behind an interface: %v", err)
	}
	if err := checkEncode("value", ccOuter{Any: 3}); err != nil {
		t.Fatalf("a struct with complex fields and an interface: %v", err)
	}
}
