package mp

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/mp-go/mp/internal/sys"
)

// The operating-system shims live in internal/sys. This file keeps two of them under short names,
// because a dozen files across the package call them, and maps the shims' errors to this
// package's sentinel.

// closeFD closes a descriptor this process owns (sys.CloseFD).
func closeFD(fd int) { sys.CloseFD(fd) }

// osYield gives this thread's CPU to another runnable thread, if there is one (sys.Yield).
func osYield() { sys.Yield() }

// notSupported makes err, an error of internal/sys, match ErrNotSupported when it reports a
// feature this platform lacks (errors.ErrUnsupported); any other error is returned as it is.
func notSupported(err error) error {
	if err == nil || !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, ErrNotSupported) {
		return err
	}
	return fmt.Errorf("%w (%s): %w", ErrNotSupported, runtime.GOOS, err)
}
