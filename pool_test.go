//go:build unix

package mp_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

func newPool(t *testing.T, opts ...mp.PoolOption) *mp.Pool {
	t.Helper()
	p, err := mp.NewPool(ctxT(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPoolBasics(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(2))
	if v, err := mp.Apply(ctx, p, Square, 9); err != nil || v != 81 {
		t.Fatalf("Apply = %d, %v", v, err)
	}
	fut := mp.Submit(ctx, p, Square, 5)
	if v, err := fut.Wait(ctx); err != nil || v != 25 {
		t.Fatalf("Submit.Wait = %d, %v", v, err)
	}
	xs := make([]int, 1000)
	for i := range xs {
		xs[i] = i
	}
	got, err := mp.Map(ctx, p, Square, xs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("Map[%d] = %d", i, v)
		}
	}
	var seq []int
	for v, err := range mp.MapSeq(ctx, p, Square, slices.Values(xs[:50])) {
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, v)
	}
	if len(seq) != 50 || seq[7] != 49 {
		t.Fatalf("MapSeq = %v", seq)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.Apply(ctx, p, Square, 1); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Apply after Shutdown = %v", err)
	}
	_ = time.Second
}
