//go:build unix

package mp

import (
	"github.com/mp-go/mp/internal/fdpass"
	"golang.org/x/sys/unix"
)

const maxHandles = fdpass.MaxFDs

func dupFD(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

func closeFD(fd int) { unix.Close(fd) }
