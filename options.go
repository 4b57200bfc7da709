package mp

import (
	"fmt"
	"io"
	"strings"
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
