//go:build unix

package mpnats_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
	"github.com/mp-go/mp/mptest"
)

func TestMain(m *testing.M) {
	if os.Getenv(testAgentEnv) != "" { // an agent of the multi-host tests (cluster_netns_test.go)
		os.Exit(testAgentMain())
	}
	mptest.Main(m)
}

// ErrSoldOut is a registered sentinel a task returns.
var ErrSoldOut = mp.RegisterError("mpnats_test.sold_out", errors.New("sold out"))

var (
	Square = mp.Register("mpnats_test.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	Fail   = mp.Register("mpnats_test.fail", func(ctx context.Context, s string) (int, error) {
		return 0, fmt.Errorf("buying %q: %w", s, ErrSoldOut)
	})
	Panic = mp.Register("mpnats_test.panic", func(ctx context.Context, s string) (int, error) { panic("boom: " + s) })
	// ExitOnce exits its worker process the first time it runs for a directory, and returns its
	// pid the next time.
	ExitOnce = mp.Register("mpnats_test.exit_once", func(ctx context.Context, dir string) (int, error) {
		marker := filepath.Join(dir, "ran")
		if _, err := os.Stat(marker); err != nil {
			os.WriteFile(marker, nil, 0o600)
			os.Exit(3)
		}
		return os.Getpid(), nil
	})
	Exit = mp.Register("mpnats_test.exit", func(ctx context.Context, code int) (int, error) { os.Exit(code); return 0, nil })
	// Spin ignores its ctx: only killing its process stops it. It writes its pid to path first.
	Spin = mp.Register("mpnats_test.spin", func(ctx context.Context, path string) (int, error) {
		os.WriteFile(path, []byte(fmt.Sprint(os.Getpid())), 0o600)
		//lint:ignore SA5002 it spins on purpose: only a kill stops it
		for {
		}
	})
	Echo   = mp.Register("mpnats_test.echo", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	Repeat = mp.Register("mpnats_test.repeat", func(ctx context.Context, n int) ([]byte, error) { return make([]byte, n), nil })
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// inProcess starts an in-process cluster with one agent of slots slots in this process, and a
// pool on it; all are stopped when the test ends.
func inProcess(t testing.TB, slots int, opts ...mpnats.PoolOption) (*mpnats.Cluster, *mpnats.Pool) {
	t.Helper()
	ctx := ctxT(t)
	c, err := mpnats.Start(ctx, mpnats.WithAckWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, c, mpnats.WithSlots(slots)) }()
	p, err := mpnats.NewPool(ctx, c, "test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	waitWorkers(t, p, slots)
	return c, p
}

// waitWorkers waits until the pool has heard from agents with n slots.
func waitWorkers(t testing.TB, p *mpnats.Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.Workers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the pool sees %d slots after 30s, want %d", p.Workers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mpnatsMaxResult(n int64) mpnats.PoolOption { return mpnats.WithMaxResultSize(n) }

func objectsLeft(t *testing.T, p *mpnats.Pool) int { return mpnats.ObjectsLeft(t, p) }

func inProcessB(b *testing.B, slots int) (*mpnats.Cluster, *mpnats.Pool) { return inProcess(b, slots) }
