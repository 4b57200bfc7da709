//go:build windows

package mp

const maxHandles = 0

func dupFD(fd int) (int, error) { return -1, ErrNotSupported }

func closeFD(fd int) {}
