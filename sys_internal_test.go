package mp

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// An internal/sys error for a missing feature reaches users as ErrNotSupported, and keeps
// matching errors.ErrUnsupported; other errors pass unchanged.
func TestNotSupportedMapsSysErrors(t *testing.T) {
	unsupported := fmt.Errorf("a socket pair needs Unix sockets: %w", errors.ErrUnsupported)
	err := notSupported(unsupported)
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("notSupported(%v) = %v; want it to match ErrNotSupported and errors.ErrUnsupported", unsupported, err)
	}
	if again := notSupported(err); again != err {
		t.Fatalf("notSupported wrapped an error that matched ErrNotSupported already: %v", again)
	}
	if err := notSupported(io.EOF); err != io.EOF {
		t.Fatalf("notSupported(io.EOF) = %v; want io.EOF unchanged", err)
	}
	if err := notSupported(nil); err != nil {
		t.Fatalf("notSupported(nil) = %v; want nil", err)
	}
}
