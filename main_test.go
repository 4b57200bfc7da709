package mp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

func TestMain(m *testing.M) {
	// Helper programs: the test binary, run again by a test with MP_TEST_HELPER set, plays a
	// parent program (see helpers_test.go).
	if h := os.Getenv("MP_TEST_HELPER"); h != "" && os.Getenv("MP_CHILD_V1") == "" {
		mp.Init()
		runHelper(h)
		return
	}
	if os.Getenv("MP_TEST_NOINIT") != "" {
		// A child whose main forgets mp.Init: it must fail loudly when it reaches mp.
		noInitMain()
		return
	}
	mptest.Main(m)
}

// ErrSoldOut is a user sentinel registered so that it keeps its identity across processes.
var ErrSoldOut = mp.RegisterError("mp_test.sold_out", errors.New("sold out"))

var (
	Empty = mp.Register("test.empty", func(ctx context.Context, _ struct{}) (struct{}, error) {
		return struct{}{}, nil
	})
	Square = mp.Register("test.square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})
	Fail = mp.Register("test.fail", func(ctx context.Context, msg string) (int, error) {
		return 0, fmt.Errorf("buying ticket %q: %w", msg, ErrSoldOut)
	})
	FailNotExist = mp.Register("test.fail_notexist", func(ctx context.Context, path string) (int, error) {
		_, err := os.Open(path)
		return 0, err
	})
	Panic = mp.Register("test.panic", func(ctx context.Context, msg string) (int, error) {
		panic("boom: " + msg)
	})
	Exit = mp.Register("test.exit", func(ctx context.Context, code int) (int, error) {
		os.Exit(code)
		return 0, nil
	})
	Sleep = mp.Register("test.sleep", func(ctx context.Context, d time.Duration) (struct{}, error) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		return struct{}{}, nil
	})
	Info = mp.Register("test.info", func(ctx context.Context, _ struct{}) (InfoResult, error) {
		par, ok := mp.Parent()
		return InfoResult{Current: mp.Current(), Parent: par, HasParent: ok, Getppid: os.Getppid()}, nil
	})
	FDOpen = mp.Register("test.fd_open", func(ctx context.Context, fd int) (bool, error) {
		_, err := fcntlGetfd(fd)
		return err == nil, nil
	})
	StartChild = mp.Register("test.start_child", func(ctx context.Context, d time.Duration) (int, error) {
		p := mp.NewProcess(Sleep, d)
		if err := p.Start(ctx); err != nil {
			return 0, err
		}
		return p.Pid(), nil
	})
	Hello = mp.Register("test.hello", func(ctx context.Context, who string) (struct{}, error) {
		fmt.Printf("hello %s from %s\n", who, mp.Current().Name)
		fmt.Fprintf(os.Stderr, "warning from %s\n", mp.Current().Name)
		return struct{}{}, nil
	})
	Env = mp.Register("test.env", func(ctx context.Context, key string) (string, error) {
		return os.Getenv(key), nil
	})
)

// InfoResult is what the Info function reports from inside a child.
type InfoResult struct {
	Current   mp.ProcessInfo
	Parent    mp.ProcessInfo
	HasParent bool
	Getppid   int
}

// Ticket is a Runner: the subclass style.
type Ticket struct {
	Name  string
	Count int
	Path  string
}

// Run writes the runner's fields to Path, proving they arrived in the child.
func (t *Ticket) Run(ctx context.Context) error {
	return os.WriteFile(t.Path, []byte(fmt.Sprintf("%s %d %s", t.Name, t.Count, mp.Current().Name)), 0o644)
}

var TicketFunc = mp.RegisterRunner[*Ticket]("test.ticket")

func fcntlGetfd(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
