//go:build !linux

package shmtable

// Supported reports whether this platform has shared memory tables.
const Supported = false

func newFile(size int64) (int, error)       { return -1, ErrNotSupported }
func checkFile(fd int) (int64, error)       { return 0, ErrNotSupported }
func fileSize(fd int) (int64, error)        { return 0, ErrNotSupported }
func growFile(fd int, size int64) error     { return ErrNotSupported }
func mapFile(fd int, n int) ([]byte, error) { return nil, ErrNotSupported }
func unmap(mem []byte) error                { return nil }
func closeFD(fd int)                        {}
func dupFD(fd int) (int, error)             { return -1, ErrNotSupported }
