package mp

import (
	"errors"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// bigElem is a large element: one byte of CBOR (a null) decodes into 1 KiB of it.
type bigElem struct{ A [1024]byte }

// allocDuring returns the bytes allocated while f runs (by any goroutine: TotalAlloc counts
// them all).
func allocDuring(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

type budgetMixed struct {
	Big  []bigElem
	Ints []int
	Name string `cbor:"n"`
}

type budgetTagged struct {
	_ struct{} `cbor:",toarray"`
	A []bigElem
	B int
}

// cborArray returns a CBOR array head for n elements, then n copies of item.
func cborArray(n int, item ...byte) []byte {
	b := []byte{0x9a, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for range n {
		b = append(b, item...)
	}
	return b
}

// nullPairs returns a CBOR map of n pairs, distinct integer keys to nulls.
func nullPairs(n int) []byte {
	b := []byte{0xba, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for i := range n {
		b = append(b, 0x1a, byte(i>>24), byte(i>>16), byte(i>>8), byte(i), 0xf6)
	}
	return b
}

// TestDecodeBudgetAdmitsRealData: values of types with large elements, encoded by mp, decode:
// the budget refuses only bytes that stand for much more than themselves.
func TestDecodeBudgetAdmitsRealData(t *testing.T) {
	bigs := make([]bigElem, 3000)
	for i := range bigs {
		bigs[i].A[0] = byte(i)
	}
	ptrs := make([]*bigElem, 1000)
	for i := range ptrs {
		ptrs[i] = &bigs[i]
	}
	m := map[int]bigElem{}
	for i := range 2000 {
		m[i] = bigs[i]
	}
	anys := make([]any, 100000)
	for i := range anys {
		anys[i] = map[string]any{}
	}
	mixed := budgetMixed{Big: bigs[:10], Ints: make([]int, 1<<20), Name: "x"}
	times := make([]time.Time, 10000)
	for _, v := range []any{bigs, ptrs, m, anys, mixed, budgetTagged{A: bigs[:1000], B: 1}, times, map[string]*bigElem{"a": &bigs[0]}} {
		b, err := codecEnc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := reflect.New(reflect.TypeOf(v))
		if err := decodeInto(b, p.Interface()); err != nil {
			t.Errorf("%T of %d bytes: %v", v, len(b), err)
		}
	}
}

// decodeInto calls decodeValueWith for the type p points to.
func decodeInto(b []byte, p any) error {
	switch p := p.(type) {
	case *[]bigElem:
		return decodeValue("test", b, p)
	case *[]*bigElem:
		return decodeValue("test", b, p)
	case *map[int]bigElem:
		return decodeValue("test", b, p)
	case *[]any:
		return decodeValue("test", b, p)
	case *budgetMixed:
		return decodeValue("test", b, p)
	case *budgetTagged:
		return decodeValue("test", b, p)
	case *[]time.Time:
		return decodeValue("test", b, p)
	case *map[string]*bigElem:
		return decodeValue("test", b, p)
	case *[][]bigElem:
		return decodeValue("test", b, p)
	case *[]map[string]bigElem:
		return decodeValue("test", b, p)
	case *any:
		return decodeValue("test", b, p)
	}
	panic("decodeInto: add a case for " + reflect.TypeOf(p).String())
}

// TestDecodeBudgetBoundsAllocation decodes messages whose bytes stand for much more than
// themselves into types with large elements. Each is refused, or allocates within the budget;
// and where the walk measured it, the measure is at least what decoding allocated.
func TestDecodeBudgetBoundsAllocation(t *testing.T) {
	const n = 64 << 10
	nulls := cborArray(n, 0xf6)
	empties := cborArray(n, 0xa0)
	for _, tc := range []struct {
		name string
		b    []byte
		into func() any
	}{
		{"nulls into []bigElem", nulls, func() any { return new([]bigElem) }},
		{"empty maps into []bigElem", empties, func() any { return new([]bigElem) }},
		{"empty maps into []*bigElem", empties, func() any { return new([]*bigElem) }},
		{"empty maps into []map[string]bigElem", empties, func() any { return new([]map[string]bigElem) }},
		{"empty arrays into [][]bigElem", cborArray(n, 0x80), func() any { return new([][]bigElem) }},
		{"tagged nulls into []bigElem", cborArray(n/3, 0xd8, 0x40, 0xf6), func() any { return new([]bigElem) }},
		{"indefinite nulls into []bigElem", append(append([]byte{0x9f}, nulls[5:]...), 0xff), func() any { return new([]bigElem) }},
		{"null pairs into map[int]bigElem", nullPairs(n / 4), func() any { return new(map[int]bigElem) }},
		{"a struct of nulls", append([]byte{0xa1, 0x63, 'b', 'i', 'g'}, nulls...), func() any { return new(budgetMixed) }},
		{"a toarray struct of nulls", append([]byte{0x82}, append(nulls, 0x01)...), func() any { return new(budgetTagged) }},
		{"empty maps into any", empties, func() any { return new(any) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.into()
			typ := reflect.TypeOf(p).Elem()
			var err error
			alloc := allocDuring(func() { err = decodeInto(tc.b, p) })
			if err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("%v; want nil or ErrDecode", err)
			}
			if budget := decodeBudget(len(tc.b)); alloc > budget {
				t.Fatalf("%d bytes into %s: %d bytes allocated, budget %d (err %v)", len(tc.b), typ, alloc, budget, err)
			}
			if err == nil && uint64(len(tc.b))*perItemCost(typ) > decodeBudget(len(tc.b)) {
				if m := measureDecode(tc.b, typ, ^uint64(0)); m.cost < alloc {
					t.Fatalf("%d bytes into %s: measured %d, allocated %d", len(tc.b), typ, m.cost, alloc)
				}
			}
			t.Logf("%d bytes: %d allocated, err %v", len(tc.b), alloc, err)
		})
	}
}
