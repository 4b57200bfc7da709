//go:build !linux

package sys

import "os"

// GrowWorkerPipe leaves the pipe's buffer as it is: only Linux can resize a pipe.
func GrowWorkerPipe(f *os.File) {}
