//go:build !linux && !darwin

package mp

import (
	"fmt"
	"os"
)

func managerListen() (*os.File, string, func(), error) {
	return nil, "", nil, fmt.Errorf("%w: mp.StartManager needs Unix sockets (Linux, macOS)", ErrNotSupported)
}

func managerDial(addr string) (*os.File, error) {
	return nil, fmt.Errorf("%w: a manager proxy needs Unix sockets (Linux, macOS)", ErrNotSupported)
}

func managerAccept(ln *os.File) (*os.File, error) {
	return nil, fmt.Errorf("%w: a manager needs Unix sockets (Linux, macOS)", ErrNotSupported)
}
