//go:build unix

package mp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mp-go/mp"
)

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic; want one mentioning %q", want)
		}
		if s, _ := r.(string); !strings.Contains(s, want) {
			t.Fatalf("panic %v; want one mentioning %q", r, want)
		}
	}()
	f()
}

func noop(ctx context.Context, x int) (int, error) { return x, nil }

// By the time a test runs, mp.Init has run (in TestMain): registering now is the bug of
// registering inside main, and must panic with advice.
func TestRegisterMisuse(t *testing.T) {
	mustPanic(t, "after mp.Init", func() { mp.Register("test.late", noop) })
	mustPanic(t, "empty name", func() { mp.Register("", noop) })
	mustPanic(t, "twice", func() { mp.Register("test.square", noop) })
	mustPanic(t, "nil function", func() { mp.Register[int, int]("test.nil", nil) })
	mustPanic(t, "registered already", func() { mp.RegisterRunner[*Ticket]("test.ticket2") })
}

func TestRegisterErrorMisuse(t *testing.T) {
	mustPanic(t, "empty code", func() { mp.RegisterError("", errors.New("x")) })
	mustPanic(t, "nil error", func() { mp.RegisterError("test.nil", nil) })
	mustPanic(t, "twice", func() { mp.RegisterError("mp_test.sold_out", errors.New("again")) })
}

func TestFuncCallAndName(t *testing.T) {
	if v, err := Square.Call(context.Background(), 5); v != 25 || err != nil {
		t.Fatalf("Call = %d, %v", v, err)
	}
	if Square.Name() != "test.square" || Square.String() != "mp.Func(test.square)" {
		t.Fatalf("Name %q String %q", Square.Name(), Square.String())
	}
}
