package mp

import (
	"fmt"
	"os"
	"syscall"
)

var sigTerm os.Signal = os.Kill

// controlPair reports that child processes are not supported on Windows.
func controlPair() (*os.File, *os.File, error) {
	return nil, nil, fmt.Errorf("%w: child processes need Unix sockets (windows)", ErrNotSupported)
}

// setOwnGroup does nothing on Windows, where children are not supported.
func setOwnGroup(attr *syscall.SysProcAttr) {}
