package mp

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mp-go/mp/internal/wire"
)

// fastWireSamples are messages with every field set, unset, empty and at CBOR's length
// boundaries.
func fastWireSamples() ([]*mreq, []*mrep) {
	big := bytes.Repeat([]byte("x"), 70000)
	many := make([][]byte, 300)
	for i := range many {
		many[i] = big[:i]
	}
	many[7] = nil
	reqs := []*mreq{
		{},
		{Obj: 1, Key: []byte{}, Val: []byte("v"), Rev: 1 << 40, N: -1, Name: "dict", Keys: [][]byte{}, Vals: [][]byte{nil}, Objs: []uint64{}},
		{Obj: 1<<64 - 1, Key: big[:24], Val: big, N: -1 << 63, Name: string(big[:300]), Keys: many, Vals: many[:30], Objs: []uint64{0, 23, 24, 1 << 32}},
		{N: 1<<63 - 1, Rev: 255},
	}
	reps := []*mrep{
		{},
		{Val: []byte{}, Rev: 7, OK: true, N: 65536, Keys: [][]byte{}, Vals: many, Revs: []uint64{0, 1, 1 << 20}},
		{Val: big, N: -25, Keys: many[:3], Revs: []uint64{}},
	}
	return reqs, reps
}

// TestManagerFastWire: the hand-written message codec writes the codec's bytes, reads them back
// as the codec does, and leaves to the codec what it does not read plainly.
func TestManagerFastWire(t *testing.T) {
	if !fastWireOK {
		t.Fatal("mreq or mrep has fields manager_fastwire.go does not know: teach encodeMsgFast, decodeMreqFast, decodeMrepFast and fastWireOK the new field (in order)")
	}
	reqs, reps := fastWireSamples()
	for _, m := range reqs {
		want, err := codecEnc.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeMsgFast(m)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("encodeMsgFast(%+v) differs from the codec (%v)", m, ok)
		}
		checkMreqFast(t, got, true)
	}
	for _, m := range reps {
		want, err := codecEnc.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeMsgFast(m)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("encodeMsgFast(%+v) differs from the codec (%v)", m, ok)
		}
		checkMrepFast(t, got, true)
	}
	// A reply with an error is the codec's.
	if _, ok := encodeMsgFast(&mrep{Err: &wire.Error{Message: "x"}}); ok {
		t.Fatal("encodeMsgFast encoded a reply with an error")
	}
	eb, _ := codecEnc.Marshal(&mrep{Err: &wire.Error{Message: "x"}})
	checkMrepFast(t, eb, false)
	// Forms left to the codec: truncated, extra bytes, indefinite lengths, a bad name, too long.
	good, _ := encodeMsgFast(&mreq{Obj: 3, Name: "ab", Keys: [][]byte{{1}}})
	for _, b := range [][]byte{
		good[:len(good)-1], append(bytes.Clone(good), 0), {0x9f, 0xff}, {0x89},
		bytes.Replace(good, []byte{0x62, 'a', 'b'}, []byte{0x62, 0xff, 'b'}, 1),
		bytes.Replace(good, []byte{0x81, 0x41, 1}, []byte{0x9a, 0xff, 0xff, 0xff, 0xff, 0x41, 1}, 1),
	} {
		checkMreqFast(t, b, false)
		checkMrepFast(t, b, false)
	}
}

func checkMreqFast(t *testing.T, b []byte, must bool) {
	t.Helper()
	fast, ok := decodeMreqFast(b)
	var slow mreq
	err := decodeValue("manager request", b, &slow)
	switch {
	case ok && err != nil:
		t.Fatalf("decodeMreqFast(%x) decoded what the codec refuses: %v", b, err)
	case ok && !reflect.DeepEqual(fast, slow):
		t.Fatalf("decodeMreqFast(%x) = %+v, the codec: %+v", b, fast, slow)
	case !ok && must:
		t.Fatalf("decodeMreqFast(%x) left a plain request to the codec", b)
	}
}

func checkMrepFast(t *testing.T, b []byte, must bool) {
	t.Helper()
	fast, ok := decodeMrepFast(b)
	var slow mrep
	err := decodeValue("manager reply", b, &slow)
	switch {
	case ok && err != nil:
		t.Fatalf("decodeMrepFast(%x) decoded what the codec refuses: %v", b, err)
	case ok && !reflect.DeepEqual(fast, slow):
		t.Fatalf("decodeMrepFast(%x) = %+v, the codec: %+v", b, fast, slow)
	case !ok && must:
		t.Fatalf("decodeMrepFast(%x) left a plain reply to the codec", b)
	}
}

// FuzzManagerFastWire: whatever the bytes, the hand-written decoders agree with the codec
// wherever they decode.
func FuzzManagerFastWire(f *testing.F) {
	reqs, reps := fastWireSamples()
	for _, m := range reqs[:2] {
		b, _ := encodeMsgFast(m)
		f.Add(b)
	}
	for _, m := range reps[:1] {
		b, _ := encodeMsgFast(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMreqFast(t, b, false)
		checkMrepFast(t, b, false)
	})
}
