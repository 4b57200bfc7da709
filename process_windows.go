package mp

import (
	"fmt"
	"os"
)

var sigTerm os.Signal = os.Kill

// controlPair reports that child processes are not supported on Windows.
func controlPair() (*os.File, *os.File, error) {
	return nil, nil, fmt.Errorf("%w: child processes need Unix sockets (windows)", ErrNotSupported)
}
