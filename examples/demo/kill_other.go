//go:build !unix

package main

import "errors"

func sigkill(pid int) error { return errors.ErrUnsupported }
