package mp

import (
	"errors"
	"fmt"
	"runtime"
)

// The operating-system shims live in internal/sys. This file maps their errors to this package's
// sentinel.

// notSupported makes err, an error of internal/sys, match ErrNotSupported when it reports a
// feature this platform lacks (errors.ErrUnsupported); any other error is returned as it is.
func notSupported(err error) error {
	if err == nil || !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, ErrNotSupported) {
		return err
	}
	return fmt.Errorf("%w (%s): %w", ErrNotSupported, runtime.GOOS, err)
}
