//go:build unix

package mp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mp-go/mp"
)

// A finished future or process wins over a ctx that has ended: Python's result(timeout=0).
func TestDoneWinsOverEndedContext(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1))
	fut := mp.Submit(ctx, p, Square, 6)
	if _, err := fut.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	proc := mp.NewProcess(Square, 2)
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	for i := range 200 {
		if v, err := fut.Wait(ended); err != nil || v != 36 {
			t.Fatalf("try %d: Future.Wait with an ended ctx = %d, %v; want the result", i, v, err)
		}
		if err := proc.Wait(ended); err != nil {
			t.Fatalf("try %d: Process.Wait with an ended ctx = %v; want the process's nil", i, err)
		}
	}
}

// AsCompleted yields the futures that are done first, even when ctx has ended, and each future
// once, however often it is given.
func TestAsCompletedDoneFirstEachOnce(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1))
	a, b := mp.Submit(ctx, p, Square, 2), mp.Submit(ctx, p, Square, 3)
	for _, f := range []*mp.Future[int]{a, b} {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	pidFile := t.TempDir() + "/pid"
	blocked := mp.Submit(ctx, p, Block, pidFile)
	defer blocked.Cancel()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	var got []*mp.Future[int]
	var errs []error
	for f, err := range mp.AsCompleted(ended, a, a, blocked, b, a) {
		got = append(got, f)
		errs = append(errs, err)
	}
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != nil {
		t.Fatalf("AsCompleted yielded %v; want a, b, then (nil, ctx error)", got)
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], context.Canceled) {
		t.Fatalf("AsCompleted errors %v", errs)
	}
}

func TestZeroValuesFailClearly(t *testing.T) {
	ctx := ctxT(t)
	var zf mp.Future[int]
	for _, f := range []*mp.Future[int]{nil, &zf} {
		if _, err := f.Wait(ctx); !errors.Is(err, mp.ErrClosed) || !strings.Contains(err.Error(), "mp.Submit") {
			t.Errorf("Wait on a %v future = %v", f, err)
		}
		select {
		case <-f.Done():
		default:
			t.Error("a nil or zero future is not done")
		}
		if f.Cancel() {
			t.Error("Cancel of a nil or zero future reported true")
		}
		got := make(chan error, 1)
		f.OnDone(func(_ int, err error) { got <- err })
		if err := <-got; !errors.Is(err, mp.ErrClosed) {
			t.Errorf("OnDone of a nil or zero future got %v", err)
		}
		for g, err := range mp.AsCompleted(ctx, f) {
			if !errors.Is(err, mp.ErrClosed) || g != f {
				t.Errorf("AsCompleted of a nil or zero future = %v, %v", g, err)
			}
		}
	}
	var zp mp.Pool
	var zg mp.GoroutinePool
	for _, ex := range []mp.Executor{&zp, (*mp.Pool)(nil), &zg, (*mp.GoroutinePool)(nil)} {
		if _, err := mp.Apply(ctx, ex, Square, 2); !errors.Is(err, mp.ErrClosed) {
			t.Errorf("Apply on a zero %T = %v", ex, err)
		}
		if _, err := mp.Map(ctx, ex, Square, []int{1, 2}); !errors.Is(err, mp.ErrClosed) {
			t.Errorf("Map on a zero %T = %v", ex, err)
		}
		if ex.Workers() != 0 {
			t.Errorf("Workers of a zero %T = %d", ex, ex.Workers())
		}
	}
	if err := zp.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	if err := zp.Close(); err != nil {
		t.Error(err)
	}
	if err := zg.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	if err := zg.Close(); err != nil {
		t.Error(err)
	}
}
