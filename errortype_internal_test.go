//go:build unix

//lint:file-ignore U1000 the test types have unexported fields on purpose: they are what RegisterErrorType refuses

package mp

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/mp-go/mp/internal/wire"
)

// wireErr is a registered error type for the tests of this file, which feed fromWire by hand.
type wireErr struct {
	Name  string
	Count int
	Items []int
}

func (e *wireErr) Error() string { return "wire error " + e.Name }

var errWireSentinel = RegisterError("mp.test.wire_sentinel", errors.New("wire sentinel"))

func init() { RegisterErrorType[*wireErr]("mp.test.wire_err") }

// TestErrorTypeRoundTrip: toWire finds the registered type behind a wrapping, and fromWire
// rebuilds it with its fields, alongside the sentinel.
func TestErrorTypeRoundTrip(t *testing.T) {
	in := fmt.Errorf("outer: %w", errors.Join(&wireErr{Name: "a", Count: 3, Items: []int{1, 2}}, errWireSentinel))
	we := toWire(in)
	if len(we.Values) != 1 || we.Values[0].Code != "mp.test.wire_err" || we.Values[0].Problem != "" || len(we.Unregistered) != 0 {
		t.Fatalf("toWire = %+v", we)
	}
	err := fromWire("w", 1, we)
	var got *wireErr
	if !errors.As(err, &got) || got.Name != "a" || got.Count != 3 || fmt.Sprint(got.Items) != "[1 2]" {
		t.Fatalf("errors.As = %+v in %v", got, err)
	}
	if !errors.Is(err, errWireSentinel) || strings.Contains(err.Error(), "register") {
		t.Fatalf("err = %v", err)
	}
}

// TestErrorTypeHostileFields: fields that do not decode, or say too much, leave a ProcessError
// with the message, the sentinels and FieldsErr, never a panic; errors.As finds no value.
func TestErrorTypeHostileFields(t *testing.T) {
	huge := []byte{0xa1, 0x65, 'I', 't', 'e', 'm', 's', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // Items: an array of 2^64-1
	deep := append([]byte{0xa1, 0x65, 'I', 't', 'e', 'm', 's'}, []byte(strings.Repeat("\x81", 10000))...)
	for _, tc := range []struct {
		name string
		v    wire.Value
	}{
		{"garbage", wire.Value{Code: "mp.test.wire_err", Fields: []byte{0xff, 0x00, 0x13}}},
		{"empty", wire.Value{Code: "mp.test.wire_err"}},
		{"wrong type", wire.Value{Code: "mp.test.wire_err", Fields: []byte{0xa1, 0x65, 'C', 'o', 'u', 'n', 't', 0x61, 'x'}}},
		{"huge array", wire.Value{Code: "mp.test.wire_err", Fields: huge}},
		{"deep nesting", wire.Value{Code: "mp.test.wire_err", Fields: deep}},
		{"null", wire.Value{Code: "mp.test.wire_err", Fields: []byte{0xf6}}},
		{"trailing bytes", wire.Value{Code: "mp.test.wire_err", Fields: []byte{0xa0, 0xa0}}},
		{"unknown code", wire.Value{Code: "mp.test.nobody", Fields: []byte{0xa0}}},
		{"child's problem", wire.Value{Code: "mp.test.wire_err", Problem: "mp: cannot encode: something"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			we := &wire.Error{Message: "boom", Type: "*mp.wireErr", Codes: []string{"mp.test.wire_sentinel"}, Values: []wire.Value{tc.v}}
			err := fromWire("w", 7, we)
			var pe *ProcessError
			if !errors.As(err, &pe) || pe.Message != "boom" || pe.FieldsErr == nil {
				t.Fatalf("fromWire = %#v", err)
			}
			var got *wireErr
			if errors.As(err, &got) {
				t.Fatalf("errors.As found %+v", got)
			}
			if !errors.Is(err, errWireSentinel) || errors.Is(err, ErrDecode) {
				t.Fatalf("errors.Is: sentinel %v, ErrDecode %v", errors.Is(err, errWireSentinel), errors.Is(err, ErrDecode))
			}
			if !strings.HasPrefix(err.Error(), "mp: process w (pid 7): boom (") {
				t.Fatalf("message %q", err.Error())
			}
		})
	}
	// A child sends one value per type: more of the same code are ignored, not decoded.
	v := wire.Value{Code: "mp.test.wire_err", Fields: []byte{0xa1, 0x64, 'N', 'a', 'm', 'e', 0x61, 'x'}}
	err := fromWire("w", 7, &wire.Error{Message: "boom", Values: []wire.Value{v, {Code: v.Code, Fields: []byte{0xff}}}})
	var got *wireErr
	if pe := (*ProcessError)(nil); !errors.As(err, &got) || got.Name != "x" || !errors.As(err, &pe) || pe.FieldsErr != nil {
		t.Fatalf("repeated value: %v", err)
	}
}

// TestErrorTypeEncodeProblem: a value whose interface field holds what the codec cannot encode
// fails in the child, and the parent says so.
func TestErrorTypeEncodeProblem(t *testing.T) {
	we := toWire(&anyErr{Detail: make(chan int)})
	if len(we.Values) != 1 || we.Values[0].Problem == "" || we.Values[0].Fields != nil {
		t.Fatalf("toWire = %+v", we)
	}
	var pe *ProcessError
	if err := fromWire("w", 1, we); !errors.As(err, &pe) || pe.FieldsErr == nil || !strings.Contains(err.Error(), "could not send the error *mp.anyErr") {
		t.Fatalf("fromWire = %v", err)
	}
}

type anyErr struct{ Detail any }

func (e *anyErr) Error() string { return "any" }

func init() { RegisterErrorType[*anyErr]("mp.test.any_err") }

// TestErrorTypeHint: an unregistered error type from outside the standard library and mp, which
// RegisterErrorType would accept, gets named; others do not.
func TestErrorTypeHint(t *testing.T) {
	err := fmt.Errorf("a: %w", errors.Join(
		&hintErr{}, // mp's own
		&os.PathError{Op: "open", Err: os.ErrNotExist}, // the standard library's
		&cbor.InvalidUnmarshalError{},                  // a dependency's, with an unexported field
		&cbor.InvalidMapKeyTypeError{GoType: "x"},      // a dependency's, registrable
		ErrClosed))
	we := toWire(err)
	if fmt.Sprint(we.Unregistered) != "[*cbor.InvalidMapKeyTypeError]" {
		t.Fatalf("Unregistered = %q", we.Unregistered)
	}
	msg := fromWire("w", 1, we).Error()
	if !strings.HasSuffix(msg, " (register *cbor.InvalidMapKeyTypeError with mp.RegisterErrorType to receive it with errors.As)") {
		t.Fatalf("message %q", msg)
	}
	if we := toWire(errors.New("plain")); we.Unregistered != nil || we.Values != nil {
		t.Fatalf("plain error: %+v", we)
	}
}

type hintErr struct{}

func (*hintErr) Error() string { return "hint" }

// Types RegisterErrorType refuses.
type (
	unexportedErr struct{ n int }
	wrapsErr      struct {
		Op  string
		Err error
	}
	wrapsErrTagged struct {
		Op  string
		Err error `cbor:"-"`
	}
	netipErr  struct{ Addr netip.Addr }
	handleErr struct{ Q *os.File }
	chanErr   struct{ C chan int }
)

func (*unexportedErr) Error() string  { return "" }
func (*wrapsErr) Error() string       { return "" }
func (*wrapsErrTagged) Error() string { return "" }
func (*netipErr) Error() string       { return "" }
func (*handleErr) Error() string      { return "" }
func (*chanErr) Error() string        { return "" }

func TestRegisterErrorTypeRefuses(t *testing.T) {
	panics := func(name, want string, f func()) {
		t.Helper()
		defer func() {
			t.Helper()
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), want) {
				t.Errorf("%s: panic %v; want one containing %q", name, r, want)
			}
		}()
		f()
	}
	panics("empty code", "empty code", func() { RegisterErrorType[*hintErr]("") })
	panics("interface", "interface type", func() { RegisterErrorType[error]("mp.test.x") })
	panics("unexported field", "n", func() { RegisterErrorType[*unexportedErr]("mp.test.x") })
	panics("error field", "mp.wrapsErr.Err is of interface type error", func() { RegisterErrorType[*wrapsErr]("mp.test.x") })
	panics("unmarshal method", "UnmarshalBinary", func() { RegisterErrorType[*netipErr]("mp.test.x") })
	panics("handle", "a handle", func() { RegisterErrorType[*handleErr]("mp.test.x") })
	panics("channel", "chan int", func() { RegisterErrorType[*chanErr]("mp.test.x") })
	panics("sentinel's code", "for a sentinel", func() { RegisterErrorType[*hintErr]("mp.closed") })
	panics("code twice", "for *mp.wireErr", func() { RegisterErrorType[*hintErr]("mp.test.wire_err") })
	panics("type twice", `under code "mp.test.wire_err"`, func() { RegisterErrorType[*wireErr]("mp.test.y") })
	panics("sentinel on a type's code", "for the error type *mp.wireErr", func() { RegisterError("mp.test.wire_err", errors.New("x")) })
	// A type that passes every check: refused only because Init has run (TestMain calls it).
	panics("after Init", "after mp.Init", func() { RegisterErrorType[*wrapsErrTagged]("mp.test.x") })
}

// FuzzErrorTypeFields feeds fromWire hostile field bytes for a registered type: it must return a
// *ProcessError that either holds the rebuilt value or says in FieldsErr why it does not, and
// keeps its sentinel either way.
func FuzzErrorTypeFields(f *testing.F) {
	good := toWire(&wireErr{Name: "a", Count: 3, Items: []int{1, 2}}).Values[0].Fields
	for _, seed := range [][]byte{good, nil, {0xf6}, {0xa0}, {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte(strings.Repeat("\x81", 300))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, fields []byte) {
		we := &wire.Error{Message: "m", Codes: []string{"mp.test.wire_sentinel"}, Values: []wire.Value{{Code: "mp.test.wire_err", Fields: fields}}}
		err := fromWire("w", 1, we)
		var pe *ProcessError
		var got *wireErr
		if !errors.As(err, &pe) || !errors.Is(err, errWireSentinel) || errors.As(err, &got) != (pe.FieldsErr == nil) {
			t.Fatalf("fromWire = %v (FieldsErr %v, value %v)", err, pe.FieldsErr, got)
		}
	})
}
