//go:build unix

//lint:file-ignore U1000 the test types have unexported fields on purpose: they are what the type check refuses

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/mp-go/mp"
)

// TCState keeps process state the way a port of Python code writes it (self._groups): in a
// lower-case field, which the codec would drop.
type TCState struct {
	Name   string
	groups int
}

// TCInner is nested in TCOuter; its count would be dropped.
type TCInner struct {
	Total int
	count int
}

// TCOuter holds TCInner values in a slice.
type TCOuter struct{ Items []TCInner }

type tcBase struct {
	ID    int
	state int
}

// TCEmbeds embeds an unexported struct, whose exported fields the codec promotes and whose
// unexported ones it drops.
type TCEmbeds struct {
	tcBase
	Extra int
}

// TCChan holds a channel, which the codec cannot encode.
type TCChan struct {
	Name string
	Ch   chan int
}

// TCRunner is a Runner with state in an unexported field.
type TCRunner struct {
	Name  string
	tries int
}

// Run does nothing.
func (r *TCRunner) Run(ctx context.Context) error { return nil }

// Celsius keeps its state unexported and encodes itself.
type Celsius struct{ deci int }

// MarshalCBOR encodes the temperature in tenths of a degree.
func (c Celsius) MarshalCBOR() ([]byte, error) { return cbor.Marshal(c.deci) }

// UnmarshalCBOR decodes what MarshalCBOR encoded.
func (c *Celsius) UnmarshalCBOR(b []byte) error { return cbor.Unmarshal(b, &c.deci) }

type tcPromoted struct{ Region string }

// TCAccepted has everything the check lets through: fields left out on purpose, types with their
// own encoding, an embedded unexported struct with exported fields.
type TCAccepted struct {
	tcPromoted
	Name  string
	At    time.Time
	Temp  Celsius
	Temps map[string]*Celsius
	cache map[string]int `cbor:"-"`
}

// EchoAccepted returns its argument from a child, as it arrived there.
var EchoAccepted = mp.Register("test.typecheck.echo", func(ctx context.Context, a TCAccepted) (TCAccepted, error) {
	return a, nil
})

// registerPanic returns the panic of f, a Register call, as a string.
func registerPanic(f func()) (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	f()
	return "<no panic>"
}

// Register refuses a function whose argument or result would lose fields on the way, with a
// message naming the type, the field and the fix. (Tests run after mp.Init, so an accepted type
// gets as far as the after-Init panic.)
func TestRegisterRefusesLostFields(t *testing.T) {
	fix := "export it"
	tag := "`cbor:\"-\"` to leave it out on purpose"
	for _, c := range []struct {
		name string
		reg  func()
		want []string
	}{
		{"argument", func() {
			mp.Register("test.tc.arg", func(ctx context.Context, s TCState) (int, error) { return 0, nil })
		}, []string{`Register("test.tc.arg")`, "argument type mp_test.TCState", "field mp_test.TCState.groups is unexported", fix + " (Groups)", tag}},
		{"result", func() {
			mp.Register("test.tc.result", func(ctx context.Context, _ int) (TCState, error) { return TCState{}, nil })
		}, []string{"result type mp_test.TCState", "mp_test.TCState.groups", fix, tag}},
		{"slice", func() {
			mp.Register("test.tc.slice", func(ctx context.Context, s []TCState) (int, error) { return 0, nil })
		}, []string{"([]mp_test.TCState)[i].groups (mp_test.TCState.groups)", fix, tag}},
		{"map value", func() {
			mp.Register("test.tc.map", func(ctx context.Context, m map[string]TCState) (int, error) { return 0, nil })
		}, []string{"(map[string]mp_test.TCState)[k].groups", fix, tag}},
		{"pointer", func() {
			mp.Register("test.tc.ptr", func(ctx context.Context, s *TCState) (int, error) { return 0, nil })
		}, []string{"field mp_test.TCState.groups", fix, tag}},
		{"nested", func() {
			mp.Register("test.tc.nested", func(ctx context.Context, o TCOuter) (int, error) { return 0, nil })
		}, []string{"field mp_test.TCOuter.Items[i].count (mp_test.TCInner.count)", fix + " (Count)", tag}},
		{"embedded", func() {
			mp.Register("test.tc.embedded", func(ctx context.Context, e TCEmbeds) (int, error) { return 0, nil })
		}, []string{"field mp_test.TCEmbeds.tcBase.state (mp_test.tcBase.state)", fix + " (State)", tag}},
		{"chan field", func() {
			mp.Register("test.tc.chan", func(ctx context.Context, c TCChan) (int, error) { return 0, nil })
		}, []string{"field mp_test.TCChan.Ch: the codec cannot encode a chan int", tag}},
		{"runner", func() { mp.RegisterRunner[*TCRunner]("test.tc.runner") },
			[]string{"argument type *mp_test.TCRunner", "field mp_test.TCRunner.tries", fix + " (Tries)", tag}},
		{"accepted", func() {
			mp.Register("test.tc.accepted", func(ctx context.Context, a TCAccepted) (TCAccepted, error) { return a, nil })
		}, []string{"after mp.Init"}},
		{"interface fields are checked at encode", func() {
			mp.Register("test.tc.any", func(ctx context.Context, a any) (any, error) { return a, nil })
		}, []string{"after mp.Init"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := registerPanic(c.reg)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("panic %q; want it to mention %q", msg, w)
				}
			}
		})
	}
}

// NewQueue, NewJoinableQueue and Pipe refuse an element type that would lose fields, with an
// ErrEncode error naming the field; types that pass, and plain numbers (which travel as memory),
// are accepted.
func TestQueueAndPipeRefuseLostFields(t *testing.T) {
	check := func(t *testing.T, ctor string, err error) {
		t.Helper()
		if !errors.Is(err, mp.ErrEncode) {
			t.Fatalf("%s: %v; want an ErrEncode error", ctor, err)
		}
		for _, w := range []string{ctor + "[mp_test.TCState]", "field mp_test.TCState.groups is unexported", "`cbor:\"-\"`"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q; want it to mention %q", ctor, err, w)
			}
		}
	}
	q, err := mp.NewQueue[TCState](0)
	if q != nil {
		t.Errorf("NewQueue returned a queue with its error")
	}
	check(t, "NewQueue", err)
	jq, err := mp.NewJoinableQueue[TCState](0)
	if jq != nil {
		t.Errorf("NewJoinableQueue returned a queue with its error")
	}
	check(t, "NewJoinableQueue", err)
	a, b, err := mp.Pipe[TCState]()
	if a != nil || b != nil {
		t.Errorf("Pipe returned ends with its error")
	}
	check(t, "Pipe", err)
	if _, err := mp.NewQueue[TCChan](0); !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "field mp_test.TCChan.Ch") {
		t.Errorf("NewQueue[TCChan]: %v", err)
	}

	ok, err := mp.NewQueue[TCAccepted](0)
	if err != nil {
		t.Fatalf("NewQueue[TCAccepted]: %v", err)
	}
	ok.Close()
	c, err := mp.NewQueue[complex128](0)
	if err != nil {
		t.Fatalf("NewQueue[complex128]: %v", err)
	}
	c.Close()
	x, y, err := mp.Pipe[TCAccepted]()
	if err != nil {
		t.Fatalf("Pipe[TCAccepted]: %v", err)
	}
	x.Close()
	y.Close()
}

// Behind an interface, the type is checked when a value is encoded: Put and Send fail with an
// ErrEncode error naming where the value sits and the field it would lose, and put nothing.
func TestInterfaceValuesCheckedAtEncode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := mp.NewQueue[any](0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	err = q.Put(ctx, TCState{Name: "x", groups: 463})
	if !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "field mp_test.TCState.groups is unexported") {
		t.Fatalf("Put(TCState): %v; want an ErrEncode error naming the field", err)
	}
	err = q.Put(ctx, []any{1, &TCState{}})
	if !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "the *mp_test.TCState at ([]interface {})[1]") {
		t.Fatalf("Put([]any{1, &TCState{}}): %v; want an ErrEncode error naming the position", err)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len = %d after refused puts", n)
	}
	if err := q.Put(ctx, TCAccepted{Name: "fine"}); err != nil {
		t.Fatalf("Put(TCAccepted): %v", err)
	}
	if err := q.Put(ctx, map[string]any{"n": 1, "s": "x", "l": []any{2.5, true}}); err != nil {
		t.Fatalf("Put(map): %v", err)
	}
	if n := q.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}

	a, b, err := mp.Pipe[any]()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	err = a.Send(ctx, map[string]any{"state": TCState{}})
	if !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "the mp_test.TCState at (map[string]interface {})[\"state\"]: field mp_test.TCState.groups") {
		t.Fatalf("Send: %v; want an ErrEncode error naming the position and the field", err)
	}
	if err := a.Send(ctx, TCAccepted{Name: "fine"}); err != nil {
		t.Fatalf("Send(TCAccepted): %v", err)
	}
	if _, err := b.Recv(ctx); err != nil {
		t.Fatalf("Recv: %v", err)
	}
}

// A type the check accepts still round-trips through a real child: exported and promoted fields,
// time, a type with its own MarshalCBOR; what is tagged `cbor:"-"` is left out.
func TestAcceptedTypeRoundTrips(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := time.Date(2024, 3, 1, 12, 30, 0, 123456789, time.UTC)
	in := TCAccepted{
		tcPromoted: tcPromoted{Region: "north"},
		Name:       "probe",
		At:         at,
		Temp:       Celsius{deci: 215},
		Temps:      map[string]*Celsius{"min": {deci: -40}},
		cache:      map[string]int{"left": 1},
	}
	out, err := mp.Run(ctx, EchoAccepted, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Region != "north" || out.Name != "probe" || !out.At.Equal(at) || out.Temp.deci != 215 ||
		out.Temps["min"] == nil || out.Temps["min"].deci != -40 {
		t.Fatalf("the child returned %+v; want the fields of %+v", out, in)
	}
	if out.cache != nil {
		t.Fatalf("cache, tagged `cbor:\"-\"`, arrived: %v", out.cache)
	}
}
