//go:build unix

//lint:file-ignore U1000 the test types have unexported fields on purpose: they are what the type check refuses

package mp

import (
	"errors"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type tcState struct {
	Name   string
	groups int
}

type tcInner struct {
	Total int
	count int
}

type tcOuter struct {
	Items []tcInner
}

type tcByName struct {
	ByName map[string]*tcInner
}

type tcByKey struct {
	ByKey map[tcInner]int
}

type tcPtr struct {
	Next *tcState
}

type tcBase struct {
	ID    int
	state int
}

type tcEmbedsBase struct {
	tcBase
	Extra int
}

type tcPromoted struct {
	tcPromotedInner
	Own int
}

type tcPromotedInner struct{ Count int }

type tcDropped struct {
	Name  string
	cache map[string]int `cbor:"-"`
	note  string         `json:"-"`
	_     struct{}       `cbor:",toarray"`
	mu    sync.Mutex
	rw    sync.RWMutex
	empty struct{}
}

type tcTimes struct {
	At    time.Time
	Ptr   *time.Time
	Big   *big.Int
	Dur   time.Duration
	Times []time.Time
}

type tcMarshaler struct{ secret int }

func (m tcMarshaler) MarshalCBOR() ([]byte, error) { return []byte{0x01}, nil }
func (m *tcMarshaler) UnmarshalCBOR([]byte) error  { return nil }

type tcPtrMarshaler struct{ secret int }

func (m *tcPtrMarshaler) MarshalBinary() ([]byte, error) { return nil, nil }

type tcUsesMarshalers struct {
	A tcMarshaler
	B *tcPtrMarshaler
	C []tcPtrMarshaler
}

type tcChan struct {
	Name string
	Ch   chan int
}

type tcFuncs struct {
	Fs []func()
}

type tcComplex struct{ Z complex128 }

type tcList struct {
	Next *tcList
	V    int
	any  int
}

type tcRecursiveOK struct {
	Kids []*tcRecursiveOK
	V    int
}

type tcStamp struct {
	time.Time
	Count int
}

type tcStampOnly struct {
	time.Time
}

type tcHidden struct {
	tcPromotedInner
	Count string
}

type tcAmbA struct{ X int }
type tcAmbB struct{ X int }
type tcAmbiguous struct {
	tcAmbA
	tcAmbB
}

type tcTagged struct {
	tcAmbA
	tcAmbB `cbor:"b"`
}

type tcDominant struct {
	tcAmbA
	B tcAmbB `cbor:"X"`
}

type tcC struct{ V int }
type tcCA struct{ tcC }
type tcCB struct{ tcC }
type tcTwice struct {
	tcCA
	tcCB
}

type tcEmbPtr struct {
	*tcPromotedInner
	N int
}

type tcEmbPtrExported struct {
	*TcExported
	N int
}

// TcExported is an exported type embedded through a pointer.
type TcExported struct{ A int }

type tcCounter int

type tcEmbNonStruct struct {
	tcCounter
	N int
}

type tcNamedEmbedded struct {
	tcPromotedInner `cbor:"inner"`
	N               int
}

type tcAtomic struct {
	Loc *time.Location
}

type tcHandleViaUnexported struct {
	tcWithQueue
}

type tcWithQueue struct {
	Q *Queue[int]
}

type tcHandles struct {
	Q *Queue[int]
	C *Conn[string]
	M *Mutex
}

type tcIface struct {
	Payload any
}

type tcChanSkipped struct {
	Ch   chan int `cbor:"-"`
	Fn   func()   `json:"-"`
	Name string
}

type tcKeyAsInt struct {
	A int `cbor:"1,keyasint"`
	B int `cbor:"01,keyasint"`
}

type tcStdlib struct {
	Addr netip.Addr
	URL  *url.URL
	IP   net.IP
}

type tcNamedHandle struct {
	tcWithQueue `cbor:"q"`
}

type tcHiddenAny struct {
	tcAnyInner
}

type tcAnyInner struct{ F any }

type tcResult struct {
	Err error
}

func TestTypeProblem(t *testing.T) {
	for _, c := range []struct {
		t    reflect.Type
		want []string // all in the message; none means accepted
	}{
		{reflect.TypeFor[int](), nil},
		{reflect.TypeFor[struct{}](), nil},
		{reflect.TypeFor[tcState](), []string{"field mp.tcState.groups is unexported", "export it (Groups)", "`cbor:\"-\"`"}},
		{reflect.TypeFor[*tcState](), []string{"field mp.tcState.groups"}},
		{reflect.TypeFor[[]tcState](), []string{"field ([]mp.tcState)[i].groups (mp.tcState.groups)"}},
		{reflect.TypeFor[tcOuter](), []string{"field mp.tcOuter.Items[i].count (mp.tcInner.count)", "export it (Count)"}},
		{reflect.TypeFor[tcByName](), []string{"field mp.tcByName.ByName[k].count"}},
		{reflect.TypeFor[tcByKey](), []string{"field mp.tcByKey.ByKey{key}.count"}},
		{reflect.TypeFor[tcPtr](), []string{"field mp.tcPtr.Next.groups"}},
		{reflect.TypeFor[tcEmbedsBase](), []string{"field mp.tcEmbedsBase.tcBase.state (mp.tcBase.state)"}},
		{reflect.TypeFor[tcPromoted](), nil},
		{reflect.TypeFor[tcDropped](), nil},
		{reflect.TypeFor[tcTimes](), nil},
		{reflect.TypeFor[tcUsesMarshalers](), nil},
		{reflect.TypeFor[tcChan](), []string{"field mp.tcChan.Ch: the codec cannot encode a chan int"}},
		{reflect.TypeFor[tcFuncs](), []string{"field mp.tcFuncs.Fs[i] in field mp.tcFuncs.Fs: the codec cannot encode a func()"}},
		{reflect.TypeFor[tcComplex](), nil}, // as two floats: codec_complex.go
		{reflect.TypeFor[chan int](), []string{"the codec cannot encode a chan int"}},
		{reflect.TypeFor[tcList](), []string{"field mp.tcList.any is unexported"}},
		{reflect.TypeFor[tcRecursiveOK](), nil},
		{reflect.TypeFor[tcStamp](), []string{"mp.tcStamp gets its MarshalBinary method from its embedded field Time", "field mp.tcStamp.Count would arrive as its zero value", "(Time time.Time)"}},
		{reflect.TypeFor[tcStampOnly](), nil},
		{reflect.TypeFor[tcHidden](), []string{"field mp.tcHidden.tcPromotedInner.Count is hidden by mp.tcHidden.Count"}},
		{reflect.TypeFor[tcAmbiguous](), []string{"fields mp.tcAmbiguous.tcAmbA.X and mp.tcAmbiguous.tcAmbB.X have the same name \"X\" at the same depth"}},
		{reflect.TypeFor[tcTagged](), nil},
		{reflect.TypeFor[tcDominant](), []string{"field mp.tcDominant.tcAmbA.X is hidden by mp.tcDominant.B"}},
		{reflect.TypeFor[tcTwice](), []string{"embeds mp.tcC twice at the same depth"}},
		{reflect.TypeFor[tcEmbPtr](), []string{"embedded field mp.tcEmbPtr.tcPromotedInner is a pointer to the unexported struct type mp.tcPromotedInner"}},
		{reflect.TypeFor[tcEmbPtrExported](), nil},
		{reflect.TypeFor[tcEmbNonStruct](), []string{"embedded field mp.tcEmbNonStruct.tcCounter is unexported", "export its type"}},
		{reflect.TypeFor[tcNamedEmbedded](), nil},
		{reflect.TypeFor[tcAtomic](), []string{"field mp.tcAtomic.Loc.name (time.Location.name) is unexported", "time.Location belongs to package time"}},
		{reflect.TypeFor[tcHandleViaUnexported](), []string{"field mp.tcHandleViaUnexported.tcWithQueue.Q holds a *mp.Queue[int]", "unexported embedded struct"}},
		{reflect.TypeFor[tcHandles](), nil},
		{reflect.TypeFor[tcIface](), nil},
		{reflect.TypeFor[ProcessInfo](), nil},
		{reflect.TypeFor[handleRef](), nil},
		{reflect.TypeFor[tcChanSkipped](), nil},
		{reflect.TypeFor[tcKeyAsInt](), []string{"fields mp.tcKeyAsInt.A and mp.tcKeyAsInt.B have the same name \"1\""}},
		{reflect.TypeFor[tcStdlib](), nil},
		{reflect.TypeFor[tcNamedHandle](), []string{"field mp.tcNamedHandle.tcWithQueue.Q holds a *mp.Queue[int] inside an unexported embedded struct"}},
		{reflect.TypeFor[map[string]tcState](), []string{"field (map[string]mp.tcState)[k].groups"}},
		{reflect.TypeFor[[3]tcState](), []string{"field ([3]mp.tcState)[i].groups"}},
	} {
		p := typeProblem(c.t)
		if len(c.want) == 0 {
			if p != "" {
				t.Errorf("%s: refused: %s", c.t, p)
			}
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(p, w) {
				t.Errorf("%s: problem %q; want it to mention %q", c.t, p, w)
			}
		}
	}
}

func TestCheckEncodeDynamic(t *testing.T) {
	for _, c := range []struct {
		v    any
		want []string
	}{
		{tcIface{Payload: 3}, nil},
		{tcIface{Payload: "x"}, nil},
		{tcIface{Payload: tcPromoted{}}, nil},
		{tcIface{Payload: tcState{}}, []string{"value of type mp.tcIface: the mp.tcState at mp.tcIface.Payload: field mp.tcState.groups is unexported"}},
		{[]any{1, "a", &tcState{}}, []string{"the *mp.tcState at ([]interface {})[2]: field mp.tcState.groups"}},
		{map[string]any{"k": []any{tcChan{}}}, []string{"at (map[string]interface {})[\"k\"][0]: field mp.tcChan.Ch: the codec cannot encode a chan int"}},
		{tcIface{Payload: tcIface{Payload: tcState{}}}, []string{"at mp.tcIface.Payload.Payload"}},
		{tcState{}, []string{"value of type mp.tcState: field mp.tcState.groups"}},
		{tcChan{}, []string{"field mp.tcChan.Ch"}},
		{tcResult{Err: errors.New("x")}, []string{"the *errors.errorString at mp.tcResult.Err: field errors.errorString.s is unexported", "errors.errorString belongs to package errors", "crosses as a function's error"}},
		{tcHiddenAny{tcAnyInner{F: os.Stdin}}, []string{"the *os.File at mp.tcHiddenAny.tcAnyInner.F: mp's handle passing does not reach this position"}},
		{tcHiddenAny{tcAnyInner{F: (*os.File)(nil)}}, nil},
		{tcIface{Payload: map[string]any{"n": uint64(1), "b": []byte("x"), "t": time.Now()}}, nil},
	} {
		err := checkEncode("value", c.v)
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%#v: %v", c.v, err)
			}
			continue
		}
		if !errors.Is(err, ErrEncode) {
			t.Errorf("%#v: %v, want an ErrEncode", c.v, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%#v: %q; want it to mention %q", c.v, err, w)
			}
		}
	}
}

// The check's cost per encoded value: a cached lookup for a type without interfaces, a walk of
// the interface-held parts otherwise. Compare with BenchmarkMarshal*, the encoding itself.
func BenchmarkCheckEncodeStruct(b *testing.B) {
	b.ReportAllocs()
	var v any = tcPromoted{tcPromotedInner{1}, 2}
	for b.Loop() {
		if err := checkEncode("value", v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalStruct(b *testing.B) {
	b.ReportAllocs()
	var v any = tcPromoted{tcPromotedInner{1}, 2}
	for b.Loop() {
		if _, err := codecEnc.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

var benchAny any = map[string]any{"n": 1, "s": "x", "l": []any{2.5, true, "y"}, "m": map[string]any{"k": int64(2)}}

func BenchmarkCheckEncodeAny(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := checkEncode("value", benchAny); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalAny(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codecEnc.Marshal(benchAny); err != nil {
			b.Fatal(err)
		}
	}
}
