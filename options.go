package mp

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ProcessOption configures a Process; pass options to NewProcess, NewRunnerProcess or Run.
type ProcessOption interface {
	applyProcess(*Process) error
}

type processOptionFunc func(*Process) error

func (f processOptionFunc) applyProcess(p *Process) error { return f(p) }

// WithName sets the process name that Name, the child's Current().Name and error messages show.
// The default is "Process-N", numbered as Python numbers them ("Process-N:M" for the M-th child of
// Process-N). An empty name is an ErrInvalidOption.
func WithName(name string) ProcessOption {
	return processOptionFunc(func(p *Process) error {
		if name == "" {
			return fmt.Errorf("%w: WithName with an empty name", ErrInvalidOption)
		}
		p.name = name
		return nil
	})
}

// WithDaemon marks the process as a daemon, as Python's daemon=True: Cleanup terminates it instead
// of waiting for it, and it may not start children of its own (its Start returns
// ErrDaemonChildren). Every child, daemon or not, is killed when its parent dies.
func WithDaemon(daemon bool) ProcessOption {
	return processOptionFunc(func(p *Process) error {
		p.daemon = daemon
		return nil
	})
}

// WithQuietFailures turns off the report of the process's failure when nothing observes it.
//
// By default, a child that fails and whose error nobody observes is reported on standard error,
// with its name, pid and error, and the first lines of a panic's stack, as Python prints a failed
// child's traceback: by Cleanup (and so by Main), or when its *Process is garbage-collected,
// whichever comes first. A child fails when its function returns an error or panics, or it exits
// with a non-zero status or is killed by a signal — unless this process had signalled it
// (Terminate, Kill, Signal, Cleanup ending a daemon) or the signal is the one that interrupted
// Main. Its error is observed when Wait, Start or Run returns it, or ExitCode is read after it
// ended. Use this option for a child whose failure is expected and of no interest.
func WithQuietFailures() ProcessOption {
	return processOptionFunc(func(p *Process) error {
		p.quiet = true
		return nil
	})
}

// WithStdout sends the child's standard output to w instead of this process's standard output.
// An *os.File is handed to the child as its descriptor; any other writer is fed by a goroutine
// that copies from a pipe, and Wait returns once the copy is complete. A nil w discards the
// output.
func WithStdout(w io.Writer) ProcessOption {
	return processOptionFunc(func(p *Process) error {
		p.stdout, p.stdoutSet = w, true
		return nil
	})
}

// WithStderr is WithStdout for standard error.
func WithStderr(w io.Writer) ProcessOption {
	return processOptionFunc(func(p *Process) error {
		p.stderr, p.stderrSet = w, true
		return nil
	})
}

// WithEnv adds "KEY=value" entries to the environment the child inherits from this process; a key
// given here overrides the inherited one. An entry without "=" is an ErrInvalidOption.
func WithEnv(kv ...string) ProcessOption {
	return processOptionFunc(func(p *Process) error {
		for _, e := range kv {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				return fmt.Errorf("%w: WithEnv entry %q is not KEY=value", ErrInvalidOption, e)
			}
		}
		p.env = append(p.env, kv...)
		return nil
	})
}

// PoolProcessOption is an option that configures either a Pool (given to NewPool) or a Process
// (given to NewProcess, NewRunnerProcess or Run).
type PoolProcessOption interface {
	PoolOption
	ProcessOption
}

// defaultCancelGrace is how long cancelled work may take to return before its process is killed,
// unless WithCancelGrace says otherwise.
const defaultCancelGrace = 250 * time.Millisecond

// WithCancelGrace sets how long work whose context was cancelled may take to return before its
// process is killed:
//   - in a Pool, a cancelled or timed-out task, after which its worker is killed and replaced;
//   - for a Process run with Run, the child's function: when Run's ctx ends, the function's own
//     ctx is cancelled (ctx.Err() is context.Canceled there), and the child is killed if it has
//     not ended within d. A function that honours its ctx thus runs its clean-up and exits
//     normally.
//
// The default is 250 ms. d < 0 is an ErrInvalidOption; 0 kills at once.
func WithCancelGrace(d time.Duration) PoolProcessOption { return cancelGrace(d) }

type cancelGrace time.Duration

func (g cancelGrace) check() error {
	if g < 0 {
		return fmt.Errorf("%w: WithCancelGrace(%v): the grace cannot be negative", ErrInvalidOption, time.Duration(g))
	}
	return nil
}

func (g cancelGrace) applyPool(c *poolConfig) error {
	c.cancelGrace = time.Duration(g)
	return g.check()
}

func (g cancelGrace) applyProcess(p *Process) error {
	p.cancelGrace = time.Duration(g)
	return g.check()
}
