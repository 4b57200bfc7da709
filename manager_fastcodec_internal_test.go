package mp

import (
	"bytes"
	"math"
	"reflect"
	"testing"
)

// checkFastEncode checks that appendBasic writes what the codec writes for v.
func checkFastEncode[T any](t *testing.T, v T) {
	t.Helper()
	want, err := codecEnc.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := appendBasic([]byte("prefix"), v)
	if !ok || !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
		t.Fatalf("appendBasic(%T %#v) = %x, %v; the codec writes %x", v, v, got, ok, want)
	}
}

// checkFastDecode checks that decodeBasic, where it decodes b, decodes what the codec does, and
// that it decodes the codec's own encodings of plain values.
func checkFastDecode[T any](t *testing.T, b []byte, mustDecode bool) {
	t.Helper()
	var fast, slow T
	ok := decodeBasic(b, &fast)
	err := codecDec.Unmarshal(b, &slow)
	switch {
	case ok && err != nil:
		t.Fatalf("decodeBasic(%x) into %T = %#v, but the codec refuses it: %v", b, fast, fast, err)
	case ok && !reflect.DeepEqual(fast, slow):
		t.Fatalf("decodeBasic(%x) into %T = %#v, the codec: %#v", b, fast, fast, slow)
	case !ok && mustDecode:
		t.Fatalf("decodeBasic(%x) into %T: not decoded (the codec: %#v, %v)", b, fast, slow, err)
	}
}

func roundTripFast[T any](t *testing.T, vs ...T) {
	t.Helper()
	if !basicType[T]() {
		t.Fatalf("basicType[%T]() is false", *new(T))
	}
	for _, v := range vs {
		checkFastEncode(t, v)
		b, _ := appendBasic(nil, v)
		checkFastDecode[T](t, b, true)
	}
}

// TestManagerFastCodec: the fast codec writes the codec's bytes for every kind of value it
// knows, at every length boundary of CBOR's heads, and reads them back as the codec does.
func TestManagerFastCodec(t *testing.T) {
	var strs []string
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536} {
		strs = append(strs, string(bytes.Repeat([]byte("é"), n/2))+string(bytes.Repeat([]byte("x"), n%2)))
	}
	strs = append(strs, "\xff\xfe not UTF-8") // written as is; read back only by the codec
	for _, s := range strs {
		checkFastEncode(t, s)
	}
	roundTripFast(t, strs[:len(strs)-1]...)
	checkFastDecode[string](t, []byte("\x6b\xff\xfe not UTF-8"), false)
	roundTripFast(t, nil, []byte{}, []byte("abc"), bytes.Repeat([]byte{7}, 300))
	roundTripFast(t, false, true)
	ints := []int64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -24, -25, -256, -257, -65536, -65537, math.MinInt32, math.MinInt64}
	roundTripFast(t, ints...)
	for _, x := range ints {
		roundTripFast(t, int(x))
		// Truncated: each a value of its own.
		roundTripFast(t, int8(x))
		roundTripFast(t, int16(x))
		roundTripFast(t, int32(x))
		roundTripFast(t, uint(x))
		roundTripFast(t, uint8(x))
		roundTripFast(t, uint16(x))
		roundTripFast(t, uint32(x))
		roundTripFast(t, uint64(x))
	}
	roundTripFast(t, uint64(math.MaxUint64))
	if basicType[float64]() || basicType[struct{ A int }]() || basicType[any]() {
		t.Fatal("basicType is true for a type the fast codec does not know")
	}
	// Encodings the fast path leaves to the codec, which decodes or refuses them.
	for _, b := range [][]byte{
		{}, {0x18}, {0x19, 1}, {0x7f, 0x61, 'a', 0xff} /* indefinite */, {0x01, 0x02} /* extra */, {0xf6}, /* null */
		{0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0} /* below MinInt64 */, {0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x19, 0x01, 0x00} /* 256 */, {0x38, 0x80} /* -129 */, {0x20} /* -1 */, {0x62, 'a'} /* short */, {0x41, 'a'},
	} {
		checkFastDecode[string](t, b, false)
		checkFastDecode[[]byte](t, b, false)
		checkFastDecode[bool](t, b, false)
		checkFastDecode[int](t, b, false)
		checkFastDecode[int8](t, b, false)
		checkFastDecode[int64](t, b, false)
		checkFastDecode[uint8](t, b, false)
		checkFastDecode[uint64](t, b, false)
	}
}

// FuzzManagerFastCodec: whatever the bytes, the fast decoder agrees with the codec wherever it
// decodes; whatever the values, the fast encoder writes the codec's bytes.
func FuzzManagerFastCodec(f *testing.F) {
	f.Add([]byte{0x63, 'a', 'b', 'c'}, "abc", int64(-25), uint64(1<<40))
	f.Add([]byte{0x39, 0x01, 0x00}, "", int64(math.MinInt64), uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, b []byte, s string, i int64, u uint64) {
		checkFastDecode[string](t, b, false)
		checkFastDecode[[]byte](t, b, false)
		checkFastDecode[bool](t, b, false)
		checkFastDecode[int](t, b, false)
		checkFastDecode[int16](t, b, false)
		checkFastDecode[int64](t, b, false)
		checkFastDecode[uint32](t, b, false)
		checkFastDecode[uint64](t, b, false)
		checkFastEncode(t, s)
		checkFastEncode(t, b)
		checkFastEncode(t, i)
		checkFastEncode(t, int32(i))
		checkFastEncode(t, u)
	})
}
