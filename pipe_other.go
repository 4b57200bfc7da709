//go:build !linux

package mp

import "os"

// growPipe leaves the pipe's buffer as it is: only Linux can resize it.
func growPipe(f *os.File) {}
