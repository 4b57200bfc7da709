//go:build !linux

package bootstrap

import (
	"os"
	"syscall"
)

// SelfExe is the path a child is executed from.
func SelfExe() (string, error) { return os.Executable() }

// SysProcAttr returns the attributes every child is started with. Without a parent-death signal
// the child relies on its control socket's end-of-file to notice that its parent died.
func SysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// SetProcessName does nothing here: the child is executed under its own path, so it already
// has the program's name.
func SetProcessName(name string) {}
