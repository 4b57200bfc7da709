package mp

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// childSpec says how to start a child: what Process options and pool workers have in common.
type childSpec struct {
	name      string
	env       []string
	stdout    io.Writer
	stderr    io.Writer
	stdoutSet bool
	stderrSet bool
	ownGroup  bool       // in a process group of its own, out of reach of the terminal's signals
	extra     []*os.File // handed to the child after its control socket (descriptors 4, 5, …)
}

// startChild executes this binary as a child marked as such, with the child's end of a new
// control socket as descriptor 3, and returns it with the parent's end. The caller owns the child:
// it must wait for it and then call bootstrap.Reaped.
func startChild(spec childSpec) (*exec.Cmd, *os.File, error) {
	parentEnd, childEnd, err := controlPair()
	if err != nil {
		return nil, nil, fmt.Errorf("mp: control socket for %s: %w", spec.name, err)
	}
	exe, err := bootstrap.SelfExe()
	if err != nil {
		parentEnd.Close()
		childEnd.Close()
		return nil, nil, fmt.Errorf("mp: cannot find this program's binary: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        os.Args,
		Env:         bootstrap.Environ(wire.Version, 1+len(spec.extra), spec.env),
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  append([]*os.File{childEnd}, spec.extra...),
		SysProcAttr: bootstrap.SysProcAttr(),
		// With a non-file writer for its output, a child is not done until the copy is; a
		// program the child started that keeps the pipe open must not keep it so for ever.
		WaitDelay: 2 * time.Second,
	}
	if spec.stdoutSet {
		cmd.Stdout = spec.stdout
	}
	if spec.stderrSet {
		cmd.Stderr = spec.stderr
	}
	if spec.ownGroup {
		sys.SetOwnGroup(cmd.SysProcAttr)
	}
	err = bootstrap.Start(cmd)
	childEnd.Close()
	if err != nil {
		parentEnd.Close()
		return nil, nil, fmt.Errorf("mp: starting %s: %w", spec.name, err)
	}
	return cmd, parentEnd, nil
}

// controlPair returns the two ends of a new control socket: the parent's on the runtime's
// poller, the child's as a file to hand over at exec. Both are close-on-exec, so no other child
// inherits them. The package deliberately avoids the net package: importing it makes every
// program that uses mp a dynamically linked binary when cgo is available, and each child would
// then pay for the dynamic loader at start-up (about 1 ms and 1.3 MiB here). On Windows, which
// has no Unix socket pairs, the error matches ErrNotSupported.
func controlPair() (*os.File, *os.File, error) {
	fds, err := sys.Socketpair()
	if err != nil {
		return nil, nil, notSupported(err)
	}
	parent, err := bootstrap.ControlFile(fds[0])
	if err != nil {
		sys.CloseFD(fds[1])
		return nil, nil, err
	}
	return parent, os.NewFile(uintptr(fds[1]), "mp-control-child"), nil
}
