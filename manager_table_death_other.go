//go:build !linux

package mp

import (
	"fmt"
	"os"
)

// Elsewhere than Linux dicts have no tables (shmtable is Linux-only), so no death pipe.

func newDeathPipe() (*[2]int, error) {
	return nil, fmt.Errorf("%w: a manager's death pipe needs Unix", ErrNotSupported)
}

func watchDeath(fd int) *os.File { return os.NewFile(uintptr(fd), "mp-manager-death") }
