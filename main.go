package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mp-go/mp/internal/sys"
)

// Main is the whole main function of a program that uses mp, and what Python's
//
//	if __name__ == "__main__":
//		main()
//
// does with its exit rules:
//
//	func main() {
//		mp.Main(func(ctx context.Context) error {
//			...
//			return nil
//		})
//	}
//
// It calls Init (in a child, Init runs the child's task and exits: Main goes no further), then
// f with a ctx that is cancelled when the program receives SIGINT (Ctrl-C) or SIGTERM (SIGINT only on Windows) — an
// orderly stop: Run, pools and whatever else f passes ctx to see it end, and context.Cause(ctx)
// names the signal (the cause matches context.Canceled). A second signal, or one that comes
// once f has returned, ends the program at once, as it would without Main (its children die
// with it). When f returns, or panics, Main calls Cleanup: it terminates the daemon
// children, waits for the others, and reports the failures of children nobody waited for. Then:
//   - f returned nil: the program exits 0;
//   - f returned an error after a signal: it exits 128+signal (130 for SIGINT), as a program
//     killed by it would; the error is printed on standard error, prefixed with the program's
//     name, unless it matches context.Canceled (the ctx's own error, or its cause);
//   - f returned another error: it is printed so, and the program exits 1;
//   - f panicked: the panic goes on once Cleanup has returned.
//
// Main never returns. Unlike a defer mp.Cleanup() in main, it cannot be forgotten; but, as any
// deferred call, it is skipped by os.Exit and log.Fatal in f, which end the program at once (the
// children are killed with it): return an error instead. Init and Cleanup remain for programs
// that arrange their exit themselves.
func Main(f func(ctx context.Context) error) {
	Init()
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, shutdownSignals()...)
	returned := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case s := <-sigs:
			if sig, ok := s.(syscall.Signal); ok {
				interruptedBy.Store(sig)
			}
			cancel(fmt.Errorf("mp.Main: received signal %v: %w", s, context.Canceled))
		case <-returned:
		}
		signal.Stop(sigs) // a second signal does what it would without Main
	}()

	err := runMain(ctx, f, func() {
		close(returned)
		<-watched
		cancel(nil)
		Cleanup()
	})
	code := 0
	s, interrupted := interruptedBy.Load().(syscall.Signal)
	switch {
	case err == nil:
	case interrupted:
		code = 128 + int(s)
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
		}
	default:
		code = 1
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName(), err)
	}
	os.Exit(code)
}

// runMain calls f, then end, even when f panics; the panic then goes on.
func runMain(ctx context.Context, f func(context.Context) error, end func()) error {
	defer end()
	return f(ctx)
}

// shutdownSignals are the signals Main turns into a cancelled ctx.
func shutdownSignals() []os.Signal {
	if sys.SigTerm == os.Kill { // Windows: SIGTERM cannot be delivered, nor os.Kill caught
		return []os.Signal{os.Interrupt}
	}
	return []os.Signal{os.Interrupt, sys.SigTerm}
}

// programName is how Main names the program in the error it prints: as the go tool names itself.
func programName() string { return filepath.Base(os.Args[0]) }
