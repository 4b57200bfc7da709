package mp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Functions for the in-process tests of call.go: nothing here starts a process.
var (
	callSquare = Register("test.internal.call_square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})
	// callFailAt fails on x == 3 and panics on x == 4.
	callFailAt = Register("test.internal.call_fail_at", func(ctx context.Context, x int) (int, error) {
		switch x {
		case 3:
			return 0, errors.New("three")
		case 4:
			panic("four")
		}
		return x, nil
	})
	// callOverrun returns after its ctx ends, without error: as a task that ignores its timeout.
	callOverrun = Register("test.internal.call_overrun", func(ctx context.Context, _ int) (int, error) {
		<-ctx.Done()
		return 1, nil
	})
)

func TestRunWithTimeout(t *testing.T) {
	ctx := context.Background()
	t.Run("no timeout passes ctx as is", func(t *testing.T) {
		_, err := runWithTimeout(ctx, "f", 0, func(c context.Context, _ int) (int, error) {
			if c != ctx {
				t.Error("fn got another ctx than the caller's")
			}
			return 0, nil
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("returned in time", func(t *testing.T) {
		r, err := runWithTimeout(ctx, "f", time.Minute, callSquare.fn, 5)
		if r != 25 || err != nil {
			t.Fatalf("got %d, %v; want 25, nil", r, err)
		}
	})
	t.Run("returned after its deadline", func(t *testing.T) {
		r, err := runWithTimeout(ctx, "overrun", time.Millisecond, callOverrun.fn, 0)
		if r != 0 || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %d, %v; want 0 and an error matching DeadlineExceeded", r, err)
		}
	})
}

func TestRunOneAndChunk(t *testing.T) {
	ctx := context.Background()
	arg, _, err := encodeArg("x", 7)
	if err != nil {
		t.Fatal(err)
	}
	out, werr := callSquare.runOne(ctx, arg, nil, 0)
	var r int
	if werr != nil || decodeValue("r", out, &r) != nil || r != 49 {
		t.Fatalf("runOne(7) = %v, %v (%d); want 49", out, werr, r)
	}
	if _, werr := callOverrun.runOne(ctx, arg, nil, time.Millisecond); werr == nil || !errors.Is(fromWire("t", 0, werr), context.DeadlineExceeded) {
		t.Fatalf("runOne past its timeout: %v; want an error matching DeadlineExceeded", werr)
	}

	args, _, err := encodeSlice("xs", []int{1, 2, 3, 4}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	out, _, done, werr := callFailAt.runChunk(ctx, args, nil, 4, 0, false)
	rs, err := decodeSlice[int]("rs", out, nil, done)
	if done != 2 || werr == nil || werr.Panic || err != nil || len(rs) != 2 || rs[0] != 1 || rs[1] != 2 {
		t.Fatalf("chunk [1 2 3 4] = %v, done %d, %v; want the results of 1 and 2, then the error of 3", rs, done, werr)
	}
	args, _, _ = encodeSlice("xs", []int{4}, false, false)
	if _, _, done, werr := callFailAt.runChunk(ctx, args, nil, 1, 0, false); done != 0 || werr == nil || !werr.Panic {
		t.Fatalf("chunk [4] = done %d, %v; want the panic of 4", done, werr)
	}
}

// BenchmarkRunOne is the child's side of one pool call, in process: decode, call, encode.
func BenchmarkRunOne(b *testing.B) {
	arg, _, err := encodeArg("x", 7)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, werr := callSquare.runOne(ctx, arg, nil, 0); werr != nil {
			b.Fatal(werr)
		}
	}
}

// BenchmarkRunChunk1 is the child's side of one chunk of one item (a Map with WithChunkSize(1)).
func BenchmarkRunChunk1(b *testing.B) {
	args, _, err := encodeSlice("x", []int{7}, false, false)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, werr := callSquare.runChunk(ctx, args, nil, 1, 0, false); werr != nil {
			b.Fatal(werr)
		}
	}
}
