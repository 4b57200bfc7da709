package bootstrap

import "os"

// CloseInherited does nothing on Windows, where mp starts no children.
func CloseInherited(keep []int) {}

// KillSelf ends this process.
func KillSelf() { os.Exit(137) }

// ControlFile wraps fd; Windows children are not supported, so it is never called.
func ControlFile(fd int) (*os.File, error) { return os.NewFile(uintptr(fd), "mp-control"), nil }
