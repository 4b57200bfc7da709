//go:build unix

package bench

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// trivialSource holds the trivial program's files: main.go and the futex floors of
// futex_linux.go (futex_other.go elsewhere).
//
//go:embed internal/trivial/*.go
var trivialSource embed.FS

// Floor is the trivial Go program (internal/trivial) built as a stand-alone binary: what the
// machine charges for a process start, a result over a pipe and an idle Go process, with no mp
// in the way. A Floor is safe for concurrent use.
type Floor struct {
	// Path is the binary.
	Path string
	// Size is the binary's size in bytes.
	Size int64
}

// BuildFloor builds the trivial program into dir with CGO_ENABLED=0, in a module of its own, so
// that it builds the same from any working directory. It needs the go command: the one on PATH,
// else the one of the toolchain that built this binary.
func BuildFloor(ctx context.Context, dir string) (*Floor, error) {
	src := filepath.Join(dir, "trivial-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module trivial\n\ngo 1.21\n"), 0o644); err != nil {
		return nil, err
	}
	files, err := trivialSource.ReadDir("internal/trivial")
	if err != nil {
		return nil, err
	}
	for _, e := range files {
		b, err := trivialSource.ReadFile("internal/trivial/" + e.Name())
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(src, e.Name()), b, 0o644); err != nil {
			return nil, err
		}
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("bench: the floor program is built with the go command, which is not on PATH: %w", err)
	}
	bin := filepath.Join(dir, "trivial")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		if out = bytes.TrimSpace(out); len(out) > 0 {
			err = fmt.Errorf("%v\n%s", err, out)
		}
		return nil, fmt.Errorf("bench: building the floor program: %w", err)
	}
	st, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	return &Floor{Path: bin, Size: st.Size()}, nil
}

// Run starts the program with no argument, which exits at once, and waits for it: a bare
// fork+exec+wait with os/exec.
func (f *Floor) Run(ctx context.Context) error {
	return exec.CommandContext(ctx, f.Path).Run()
}

// Square runs the program to compute x*x and reads the answer from its standard output: a fresh
// process per call with the result coming back over a pipe.
func (f *Floor) Square(ctx context.Context, x int) (int, error) {
	out, err := exec.CommandContext(ctx, f.Path, "square", strconv.Itoa(x)).Output()
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(bytes.TrimSpace(out)))
}

// StartIdle starts the program idling and returns once it has said it is ready. The caller must
// kill it and wait for it.
func (f *Floor) StartIdle(ctx context.Context) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, f.Path, "idle")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("bench: idle floor program did not get ready: %q, %v", line, err)
	}
	return cmd, nil
}

// PingPongMode says how PingPong's two processes talk.
type PingPongMode int

const (
	// PipeRaw: two pipes, raw blocking read(2) and write(2) on both sides (trivial echo): the
	// kernel's floor for a round trip between two Go processes that block, a thread parked in
	// the kernel on each side.
	PipeRaw PingPongMode = iota
	// PipeOS: two non-blocking pipes through *os.File and the runtime's poller on both sides
	// (trivial echo-os).
	PipeOS
	// SocketOS: one non-blocking unix socketpair through *os.File and the runtime's poller on
	// both sides (trivial echo-os): the transport of mp's control sockets.
	SocketOS
	// SocketRaw: one blocking unix socketpair, raw read(2) and write(2) on both sides (trivial
	// echo, the socket as its standard input and output): the kernel's floor for a round trip
	// through a socketpair, the transport of Python's Pipe().
	SocketRaw
)

// String names the mode as the report shows it.
func (m PingPongMode) String() string {
	switch m {
	case PipeRaw:
		return "pipe, raw syscalls"
	case PipeOS:
		return "pipe, os.File"
	case SocketOS:
		return "socketpair, os.File"
	case SocketRaw:
		return "socketpair, raw syscalls"
	}
	return "PingPongMode(" + strconv.Itoa(int(m)) + ")"
}

// PingPong starts the program echoing, sends it one byte and reads it back warm times unmeasured,
// then n times timed, and returns each timed round trip.
func (f *Floor) PingPong(ctx context.Context, n, warm int, mode PingPongMode) ([]time.Duration, error) {
	switch mode {
	case PipeOS:
		return f.pingPongOS(ctx, n, warm, false)
	case SocketOS:
		return f.pingPongOS(ctx, n, warm, true)
	}
	var cmd *exec.Cmd
	var w, r int
	if mode == SocketRaw {
		fds, err := cloexecSocketpair()
		if err != nil {
			return nil, os.NewSyscallError("socketpair", err)
		}
		w, r = fds[0], fds[0]
		cmd, err = f.startRaw(ctx, fds[1], fds[1], "echo")
		if err != nil {
			syscall.Close(w)
			return nil, err
		}
	} else {
		var toChild, fromChild [2]int
		if err := cloexecPipe(&toChild); err != nil {
			return nil, os.NewSyscallError("pipe", err)
		}
		if err := cloexecPipe(&fromChild); err != nil {
			syscall.Close(toChild[0])
			syscall.Close(toChild[1])
			return nil, os.NewSyscallError("pipe2", err)
		}
		w, r = toChild[1], fromChild[0]
		var err error
		cmd, err = f.startRaw(ctx, toChild[0], fromChild[1], "echo")
		if err != nil {
			syscall.Close(w)
			syscall.Close(r)
			return nil, err
		}
	}
	defer func() {
		syscall.Close(w) // end of input: the child exits
		if r != w {
			syscall.Close(r)
		}
		cmd.Wait()
	}()
	b := []byte{1}
	return timeRoundTrips(n, warm, func() error {
		if err := rawIO(syscall.Write, w, b); err != nil {
			return err
		}
		return rawIO(syscall.Read, r, b)
	})
}

// startRaw starts the program with args, its standard input the descriptor in and its standard
// output the descriptor out (which may be the same), both left blocking: os.NewFile leaves them
// off the poller, and the child gets them as they are. It closes in and out in this process,
// whether the start succeeds or not.
func (f *Floor) startRaw(ctx context.Context, in, out int, args ...string) (*exec.Cmd, error) {
	childIn := os.NewFile(uintptr(in), "trivial-stdin")
	childOut := childIn
	if out != in {
		childOut = os.NewFile(uintptr(out), "trivial-stdout")
		defer childOut.Close()
	}
	defer childIn.Close()
	cmd := exec.CommandContext(ctx, f.Path, args...)
	cmd.Stdin, cmd.Stdout = childIn, childOut
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// Bandwidth starts the program as a sink over one blocking unix socketpair with default buffers,
// and sends it messages of size bytes, each written by raw write(2) calls of chunk bytes and
// answered by the sink with one byte once it has read it all: warm messages unmeasured, then n
// timed, from the first write to the answer. It returns each timed message's duration.
func (f *Floor) Bandwidth(ctx context.Context, n, warm, size, chunk int) ([]time.Duration, error) {
	fds, err := cloexecSocketpair()
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	fd := fds[0]
	cmd, err := f.startRaw(ctx, fds[1], fds[1], "sink", strconv.Itoa(size))
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	defer func() {
		syscall.Close(fd) // end of input: the child exits
		cmd.Wait()
	}()
	buf := bytes.Repeat([]byte{0xab}, min(chunk, size))
	ack := []byte{0}
	out := make([]time.Duration, 0, n)
	for i := -warm; i < n; i++ {
		t0 := time.Now()
		for sent := 0; sent < size; {
			k, err := syscall.Write(fd, buf[:min(len(buf), size-sent)])
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("bench: bandwidth to the floor program: %w", os.NewSyscallError("write", err))
			}
			sent += k
		}
		if err := rawIO(syscall.Read, fd, ack); err != nil {
			return nil, fmt.Errorf("bench: bandwidth to the floor program: no answer: %w", err)
		}
		if i >= 0 {
			out = append(out, time.Since(t0))
		}
	}
	return out, nil
}

// rawIO moves the one byte of b with op (syscall.Read or syscall.Write) on fd, again after
// EINTR.
func rawIO(op func(int, []byte) (int, error), fd int, b []byte) error {
	for {
		n, err := op(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n != 1 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
}

// pingPongOS is PingPong through *os.File on the poller, over two pipes or one socketpair.
func (f *Floor) pingPongOS(ctx context.Context, n, warm int, socket bool) ([]time.Duration, error) {
	var childIn, childOut, r, w *os.File
	if socket {
		fds, err := cloexecSocketpair()
		if err != nil {
			return nil, os.NewSyscallError("socketpair", err)
		}
		if err := syscall.SetNonblock(fds[0], true); err != nil {
			syscall.Close(fds[0])
			syscall.Close(fds[1])
			return nil, os.NewSyscallError("setnonblock", err)
		}
		r = os.NewFile(uintptr(fds[0]), "echo-socket") // non-blocking: on the poller
		w = r
		childIn = os.NewFile(uintptr(fds[1]), "echo-socket-child")
		childOut = childIn
	} else {
		var err error
		if childIn, w, err = os.Pipe(); err != nil {
			return nil, err
		}
		if r, childOut, err = os.Pipe(); err != nil {
			childIn.Close()
			w.Close()
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, f.Path, "echo-os")
	cmd.Stdin, cmd.Stdout = childIn, childOut
	err := cmd.Start()
	childIn.Close()
	childOut.Close()
	defer func() {
		w.Close() // end of input: the child exits
		r.Close()
		if cmd.Process != nil {
			cmd.Wait()
		}
	}()
	if err != nil {
		return nil, err
	}
	b := []byte{1}
	return timeRoundTrips(n, warm, func() error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, err := io.ReadFull(r, b)
		return err
	})
}

// timeRoundTrips runs rt warm times, then times n more.
func timeRoundTrips(n, warm int, rt func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := -warm; i < n; i++ {
		t0 := time.Now()
		if err := rt(); err != nil {
			return nil, fmt.Errorf("bench: ping-pong with the floor program: %w", err)
		}
		if i >= 0 {
			out = append(out, time.Since(t0))
		}
	}
	return out, nil
}

// cloexecPipe makes a pipe whose ends are close-on-exec, as pipe2(O_CLOEXEC) does on Linux.
func cloexecPipe(p *[2]int) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := syscall.Pipe(p[:]); err != nil {
		return err
	}
	syscall.CloseOnExec(p[0])
	syscall.CloseOnExec(p[1])
	return nil
}

// cloexecSocketpair makes a Unix stream socketpair whose ends are close-on-exec.
func cloexecSocketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return fds, nil
}
