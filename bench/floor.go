package bench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

//go:embed internal/trivial/main.go
var trivialSource []byte

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
	if err := os.WriteFile(filepath.Join(src, "main.go"), trivialSource, 0o644); err != nil {
		return nil, err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
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
