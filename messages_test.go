//go:build unix

package mp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mp-go/mp"
)

// TestClosedPoolSaysWhatIsClosed: work offered to a pool after Close or Shutdown fails with an
// error that matches ErrClosed and names the pool, not a bare "mp: closed".
func TestClosedPoolSaysWhatIsClosed(t *testing.T) {
	ctx := ctxT(t)
	p := must(mp.NewPool(ctx, mp.WithWorkers(1)))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	g := must(mp.NewGoroutinePool(ctx, mp.WithWorkers(1)))
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ex   mp.Executor
		want string
	}{
		{"Pool", p, "the *mp.Pool was shut down"},
		{"GoroutinePool", g, "the *mp.GoroutinePool was shut down"},
	} {
		_, err := mp.Apply(ctx, tc.ex, Square, 2)
		if !errors.Is(err, mp.ErrClosed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Apply after shut-down = %v; want ErrClosed saying %q", tc.name, err, tc.want)
		}
	}
}

// TestClosedGoroutinePoolFailsQueuedCalls: a call queued when Close comes says that the pool was
// closed before it ran.
func TestClosedGoroutinePoolFailsQueuedCalls(t *testing.T) {
	ctx := ctxT(t)
	g := must(mp.NewGoroutinePool(ctx, mp.WithWorkers(1)))
	running := mp.Submit(ctx, g, blockUntilCancelled, struct{}{})
	<-blockStarted
	queued := mp.Submit(ctx, g, Square, 3)
	g.Close()
	if _, err := queued.Wait(ctx); !errors.Is(err, mp.ErrClosed) || !strings.Contains(err.Error(), "closed (Close was called) before this call ran") {
		t.Errorf("queued call = %v", err)
	}
	if _, err := running.Wait(ctx); !errors.Is(err, mp.ErrClosed) && !errors.Is(err, context.Canceled) {
		t.Errorf("running call = %v", err)
	}
}

// blockUntilCancelled says on blockStarted that it runs, and blocks until its ctx ends: for a
// GoroutinePool, in this process.
var blockUntilCancelled = mp.Register("test.messages_block", func(ctx context.Context, _ struct{}) (int, error) {
	blockStarted <- struct{}{}
	<-ctx.Done()
	return 0, ctx.Err()
})

var blockStarted = make(chan struct{}, 1)
