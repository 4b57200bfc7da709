//go:build unix

package mp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mp-go/mp"
)

// roundTrip is what a cluster does with a task's error: encode it where it happened, rebuild it
// where the Future is.
func roundTrip(t *testing.T, err error) error {
	t.Helper()
	got := mp.UnmarshalError(mp.MarshalError(err))
	if got == nil {
		t.Fatalf("%v came back nil", err)
	}
	return got
}

// The errors of a real pool's tasks keep their identity through MarshalError and UnmarshalError.
func TestMarshalErrorKeepsIdentity(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1))

	_, err := mp.Apply(ctx, p, Fail, "x")
	if got := roundTrip(t, err); !errors.Is(got, ErrSoldOut) || got.Error() != err.Error() {
		t.Errorf("sentinel: got %v, want %v matching ErrSoldOut", got, err)
	}

	_, err = mp.Apply(ctx, p, FailQuota, "ann")
	var q *QuotaError
	if got := roundTrip(t, err); !errors.As(got, &q) || q.User != "ann" {
		t.Errorf("registered type: got %v (%#v), want a *QuotaError for ann", got, q)
	}

	_, err = mp.Apply(ctx, p, Panic, "here")
	var pe *mp.PanicError
	got := roundTrip(t, err)
	if !errors.As(got, &pe) || pe.Value != "boom: here" || !strings.Contains(pe.Stack, "panic") || got.Error() != err.Error() {
		t.Errorf("panic: got %v (%#v), want %v", got, pe, err)
	}

	_, err = mp.Apply(ctx, p, Exit, 3)
	if got := roundTrip(t, err); !errors.Is(err, mp.ErrWorkerDied) || !errors.Is(got, mp.ErrWorkerDied) || !strings.Contains(got.Error(), "exited with status 3") {
		t.Errorf("worker died: got %v from %v", got, err)
	}

	dctx, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	<-dctx.Done()
	if got := roundTrip(t, dctx.Err()); !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("deadline: got %v", got)
	}
}

func TestUnmarshalErrorBadInput(t *testing.T) {
	if mp.MarshalError(nil) != nil || mp.UnmarshalError(nil) != nil {
		t.Fatal("nil does not round-trip to nil")
	}
	for _, b := range [][]byte{{0xff}, {2, 0}, append(mp.MarshalError(errors.New("x")), 0)} {
		if err := mp.UnmarshalError(b); !errors.Is(err, mp.ErrDecode) || !strings.Contains(err.Error(), "MarshalError") {
			t.Errorf("UnmarshalError(%x) = %v, want an ErrDecode naming MarshalError", b, err)
		}
	}
}

func TestRegistryHash(t *testing.T) {
	h := mp.RegistryHash()
	if len(h) != 32 || h != mp.RegistryHash() {
		t.Fatalf("RegistryHash() = %q, want 32 stable hex digits", h)
	}
}
