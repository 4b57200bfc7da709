package mpnats

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/mp-go/mp"
)

// What the package decodes from the wire — queue values, dict keys and values, lease records —
// is decoded with mp's codec: arbitrary bytes give a value or an mp.ErrDecode error, never a
// panic or a runaway allocation.

type fuzzValue struct {
	ID    int
	Name  string
	Tags  []string
	Attrs map[string]float64
	Next  *fuzzValue
	Big   [][64]int64
}

func seeds(f *testing.F) {
	for _, v := range []any{
		fuzzValue{ID: 1, Name: "a", Tags: []string{"x"}, Attrs: map[string]float64{"k": 1}, Next: &fuzzValue{ID: 2}},
		leaseRecord{Held: true, Owner: "abc", Host: "h", Pid: 7, Lease: int64(minLease)},
		point{1, 2},
		"text",
	} {
		b, err := encode("seed", v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // an array of 2^64-1 elements
	f.Add([]byte{0xbf, 0x61, 0x61})                                     // an unfinished map
}

func checkDecodeErr(t *testing.T, err error) {
	if err != nil && !errors.Is(err, mp.ErrDecode) {
		t.Fatalf("decode error %v does not match mp.ErrDecode", err)
	}
}

// FuzzQueueValue decodes bytes as a queue value (JoinableQueue.Get and Queue.Get decode so).
func FuzzQueueValue(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var v fuzzValue
		checkDecodeErr(t, decode("value from a queue", b, &v))
		var a any
		checkDecodeErr(t, decode("value from a queue", b, &a))
	})
}

// FuzzLeaseRecord decodes bytes as a mutex's lease record: a record that decodes has a lease in
// range when it says the mutex is held.
func FuzzLeaseRecord(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeLease(b)
		checkDecodeErr(t, err)
		if err == nil && r.Held && (r.Lease < int64(minLease) || r.Lease > int64(maxLease)) {
			t.Fatalf("a held record with lease %d decoded without error", r.Lease)
		}
	})
}

// FuzzDictKey decodes a bucket key (base64url of the key's encoding), as Keys and Watch do.
func FuzzDictKey(f *testing.F) {
	seeds(f)
	f.Add([]byte("not base64!"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range []string{string(b), base64.RawURLEncoding.EncodeToString(b)} {
			_, err := decodeKey[point](s)
			checkDecodeErr(t, err)
			_, err = decodeKey[string](s)
			checkDecodeErr(t, err)
		}
	})
}
