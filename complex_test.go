//go:build unix

package mp_test

import (
	"context"
	"math/cmplx"
	"slices"
	"testing"

	"github.com/mp-go/mp"
)

// Complex numbers cross processes: alone, in slices (a Map's chunks travel as memory), and in
// struct fields, slices, maps and pointers (as pairs of floats).

// Mandel returns the number of iterations before c escapes, up to 255: the benchmark game's
// Mandelbrot, one point per task.
var Mandel = mp.Register("test.mandel", func(ctx context.Context, c complex128) (int, error) {
	z := complex(0, 0)
	for i := range 255 {
		z = z*z + c
		if cmplx.Abs(z) > 2 {
			return i, nil
		}
	}
	return 255, nil
})

// Signal is a struct with complex fields of every shape.
type Signal struct {
	Name    string
	Z       complex128
	Small   complex64
	Samples []complex128
	ByName  map[string]complex64
	Peak    *complex128
	Pair    [2]complex128
}

// Conjugate returns s with every complex number conjugated.
var Conjugate = mp.Register("test.conjugate", func(ctx context.Context, s Signal) (Signal, error) {
	s.Z = cmplx.Conj(s.Z)
	s.Small = complex(real(s.Small), -imag(s.Small))
	if s.Samples != nil { // nil stays nil, so that the test sees nil cross as nil
		out := make([]complex128, len(s.Samples))
		for i, z := range s.Samples {
			out[i] = cmplx.Conj(z)
		}
		s.Samples = out
	}
	if s.ByName != nil {
		m := make(map[string]complex64, len(s.ByName))
		for k, z := range s.ByName {
			m[k] = complex(real(z), -imag(z))
		}
		s.ByName = m
	}
	if s.Peak != nil {
		p := cmplx.Conj(*s.Peak)
		s.Peak = &p
	}
	s.Pair = [2]complex128{cmplx.Conj(s.Pair[0]), cmplx.Conj(s.Pair[1])}
	return s, nil
})

// Roots returns the n-th roots of unity: a slice of complex numbers as one result.
var Roots = mp.Register("test.roots", func(ctx context.Context, n int) ([]complex128, error) {
	rs := make([]complex128, n)
	for k := range rs {
		rs[k] = cmplx.Rect(1, 2*3.141592653589793*float64(k)/float64(n))
	}
	return rs, nil
})

func mandelLocal(c complex128) int {
	v, _ := Mandel.Call(context.Background(), c)
	return v
}

func TestExecutorComplex(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		// A Mandelbrot row by row: Map over []complex128.
		const w, h = 40, 20
		var points []complex128
		for y := range h {
			for x := range w {
				points = append(points, complex(-2+2.5*float64(x)/w, -1.25+2.5*float64(y)/h))
			}
		}
		got, err := mp.Map(ctx, ex, Mandel, points)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range points {
			if want := mandelLocal(c); got[i] != want {
				t.Fatalf("Map(Mandel)[%d] (%v) = %d, want %d", i, c, got[i], want)
			}
		}
		if v, err := mp.Apply(ctx, ex, Mandel, complex(0, 0)); err != nil || v != 255 {
			t.Fatalf("Apply(Mandel, 0) = %d, %v", v, err)
		}
		rs, err := mp.Apply(ctx, ex, Roots, 4)
		if err != nil || len(rs) != 4 || cmplx.Abs(rs[1]-1i) > 1e-12 {
			t.Fatalf("Apply(Roots, 4) = %v, %v", rs, err)
		}
		peak := complex(3, -4)
		in := Signal{Name: "s", Z: 1 + 2i, Small: 3 - 4i, Samples: []complex128{1i, -1 - 1i},
			ByName: map[string]complex64{"a": 5 + 6i}, Peak: &peak, Pair: [2]complex128{7i, 8}}
		out, err := mp.Apply(ctx, ex, Conjugate, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.Name != "s" || out.Z != 1-2i || out.Small != 3+4i || !slices.Equal(out.Samples, []complex128{-1i, -1 + 1i}) ||
			out.ByName["a"] != 5-6i || out.Peak == nil || *out.Peak != 3+4i || out.Pair != [2]complex128{-7i, 8} {
			t.Fatalf("Conjugate(%+v) = %+v", in, out)
		}
		zero, err := mp.Apply(ctx, ex, Conjugate, Signal{})
		if err != nil || zero.Samples != nil || zero.ByName != nil || zero.Peak != nil {
			t.Fatalf("Conjugate(Signal{}) = %+v, %v", zero, err)
		}
		// Over a queue as well.
		q, err := mp.NewQueue[Signal](4)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		if err := q.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
		if back, err := q.Get(ctx); err != nil || back.Z != in.Z || *back.Peak != peak || back.ByName["a"] != 5+6i {
			t.Fatalf("Queue[Signal] Get = %+v, %v", back, err)
		}
	})
}
