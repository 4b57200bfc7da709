//go:build unix

package mp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

var (
	// HonourCancel announces itself (its pid in dir/started), waits for its ctx to end, then runs
	// its clean-up: it writes the ctx's error to dir/cleaned, and returns.
	HonourCancel = mp.Register("test.honour_cancel", func(ctx context.Context, dir string) (struct{}, error) {
		if err := announce(dir); err != nil {
			return struct{}{}, err
		}
		<-ctx.Done()
		return struct{}{}, os.WriteFile(filepath.Join(dir, "cleaned"), []byte(ctx.Err().Error()), 0o644)
	})
	// IgnoreCancel announces itself (its pid in dir/started), then blocks for ever, deaf to its
	// ctx: only a kill ends it.
	IgnoreCancel = mp.Register("test.ignore_cancel", func(ctx context.Context, dir string) (struct{}, error) {
		if err := announce(dir); err != nil {
			return struct{}{}, err
		}
		select {}
	})
)

// announce writes this process's pid to dir/started, all at once (a rename), so that a reader
// that sees the file sees the pid.
func announce(dir string) error {
	tmp := filepath.Join(dir, "started.tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "started"))
}

// runUntilStarted runs f on dir with opts, cancels Run's ctx once the function has announced
// itself, and returns the child's pid, how long Run took after the cancel and Run's error.
func runUntilStarted(t *testing.T, f *mp.Func[string, struct{}], dir string, opts ...mp.ProcessOption) (int, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	type outcome struct {
		err error
		at  time.Time
	}
	ran := make(chan outcome, 1)
	go func() {
		_, err := mp.Run(ctx, f, dir, opts...)
		ran <- outcome{err, time.Now()}
	}()
	var pid int
	waitFor(t, "the function to start", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "started"))
		pid, _ = strconv.Atoi(string(b))
		return err == nil
	})
	cancelled := time.Now()
	cancel()
	o := within(t, "Run to return after its ctx was cancelled", ran)
	return pid, o.at.Sub(cancelled), o.err
}

// When Run's ctx ends, the function's ctx in the child is cancelled first: a function that
// honours it runs its clean-up and the child exits by itself, long before the grace would have
// had it killed.
func TestRunCancelsTheFunctionFirst(t *testing.T) {
	dir := t.TempDir()
	const grace = 30 * time.Second
	pid, took, err := runUntilStarted(t, HonourCancel, dir, mp.WithCancelGrace(grace))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v; want context.Canceled, the caller's ctx error", err)
	}
	b, rerr := os.ReadFile(filepath.Join(dir, "cleaned"))
	if rerr != nil {
		t.Fatalf("the function did not run its clean-up: %v", rerr)
	}
	if string(b) != context.Canceled.Error() {
		t.Fatalf("the function's ctx.Err() in the child = %q; want %q", b, context.Canceled)
	}
	// Run returns only once the child has been reaped; had it been killed, that would have been
	// after the grace.
	if took >= grace/2 {
		t.Fatalf("Run took %v after the cancel; want the child to exit by itself, well within the %v grace", took, grace)
	}
	if mptest.Exists(pid) {
		t.Fatalf("child %d still exists after Run returned", pid)
	}
}

// A function that ignores its ctx is killed once the grace has passed: not before, and not much
// after.
func TestRunKillsAfterTheGrace(t *testing.T) {
	dir := t.TempDir()
	const grace = 200 * time.Millisecond
	pid, took, err := runUntilStarted(t, IgnoreCancel, dir, mp.WithCancelGrace(grace))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v; want context.Canceled", err)
	}
	if took < grace {
		t.Fatalf("Run returned %v after the cancel; want the child given its %v grace first", took, grace)
	}
	if took > grace+10*time.Second {
		t.Fatalf("Run returned %v after the cancel; want the child killed soon after its %v grace", took, grace)
	}
	if mptest.Exists(pid) {
		t.Fatalf("child %d, deaf to its ctx, still exists after Run returned", pid)
	}
}

// WithCancelGrace(0) kills at once, as Run did before there was a grace; a negative grace is an
// invalid option.
func TestRunCancelGraceOption(t *testing.T) {
	pid, _, err := runUntilStarted(t, IgnoreCancel, t.TempDir(), mp.WithCancelGrace(0))
	if !errors.Is(err, context.Canceled) || mptest.Exists(pid) {
		t.Fatalf("Run with no grace = %v, child %d exists: %v; want context.Canceled and the child gone", err, pid, mptest.Exists(pid))
	}
	if _, err := mp.Run(ctxT(t), Square, 2, mp.WithCancelGrace(-time.Second)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Run with WithCancelGrace(-1s) = %v; want ErrInvalidOption", err)
	}
}
