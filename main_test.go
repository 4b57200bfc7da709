//go:build unix

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
	// FDOpen reports whether descriptor a.FD in the child refers to the file at a.Path.
	FDOpen = mp.Register("test.fd_open", func(ctx context.Context, a FDArg) (bool, error) {
		var st, want syscall.Stat_t
		if err := syscall.Fstat(a.FD, &st); err != nil {
			return false, nil
		}
		if err := syscall.Stat(a.Path, &want); err != nil {
			return false, err
		}
		return st.Dev == want.Dev && st.Ino == want.Ino, nil
	})
	StartChild = mp.Register("test.start_child", func(ctx context.Context, d time.Duration) (int, error) {
		p := mp.NewProcess(Sleep, d)
		if err := p.Start(ctx); err != nil {
			return 0, err
		}
		return p.Pid(), nil
	})
	// StartGrandchild starts a long-sleeping child, writes its pid to pidFile and returns; the
	// process then waits for the grandchild before exiting (Python's exit rules).
	StartGrandchild = mp.Register("test.start_grandchild", func(ctx context.Context, pidFile string) (int, error) {
		p := mp.NewProcess(Sleep, time.Hour)
		if err := p.Start(ctx); err != nil {
			return 0, err
		}
		return p.Pid(), os.WriteFile(pidFile, []byte(fmt.Sprint(p.Pid())), 0o644)
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

// FDArg names a descriptor and the file it should refer to.
type FDArg struct {
	FD   int
	Path string
}

// ChanHolder cannot be encoded when it holds a channel. The field is an interface, so that
// Register accepts the type (a chan field would be refused there) and the encoding fails at the
// call, as an ErrEncode error.
type ChanHolder struct {
	Name string
	C    any
}

// BadArg encodes fine but refuses to decode, as a corrupt or incompatible argument would.
type BadArg struct{ X int }

// UnmarshalCBOR always fails.
func (b *BadArg) UnmarshalCBOR([]byte) error { return errors.New("BadArg refuses to decode") }

var (
	TakeChan   = mp.Register("test.take_chan", func(ctx context.Context, c ChanHolder) (int, error) { return 0, nil })
	TakeBad    = mp.Register("test.take_bad", func(ctx context.Context, b BadArg) (int, error) { return b.X, nil })
	ReturnFunc = mp.Register("test.return_func", func(ctx context.Context, _ struct{}) (any, error) {
		return func() {}, nil
	})
	Big = mp.Register("test.big", func(ctx context.Context, n int) ([]byte, error) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b, nil
	})
	// Spin ignores its context and burns CPU forever, after writing its pid to a file: only a
	// kill stops it.
	Spin = mp.Register("test.spin", func(ctx context.Context, pidFile string) (int, error) {
		if err := os.WriteFile(pidFile, []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
			return 0, err
		}
		x := 0
		for {
			x++
		}
	})
	// Touch sleeps d, then creates path: proof that it ran to the end.
	Touch = mp.Register("test.touch", func(ctx context.Context, a TouchArg) (struct{}, error) {
		time.Sleep(a.After)
		return struct{}{}, os.WriteFile(a.Path, []byte("done"), 0o644)
	})
)

// TouchArg is Touch's argument.
type TouchArg struct {
	Path  string
	After time.Duration
}

// NestedResult is what NestedInfo reports.
type NestedResult struct {
	InfoResult
	ParentName string
}

// NestedInfo starts a grandchild running Info and reports what it saw.
var NestedInfo = mp.Register("test.nested_info", func(ctx context.Context, _ struct{}) (NestedResult, error) {
	r, err := mp.Run(ctx, Info, struct{}{})
	return NestedResult{InfoResult: r, ParentName: mp.Current().Name}, err
})

// Functions for the pool tests.
var (
	// Pid returns the pid of the worker that ran it.
	Pid = mp.Register("test.pid", func(ctx context.Context, _ struct{}) (int, error) {
		return os.Getpid(), nil
	})
	// Block writes its pid to a file and then blocks, ignoring its context: only a kill ends it.
	Block = mp.Register("test.block", func(ctx context.Context, pidFile string) (int, error) {
		if err := os.WriteFile(pidFile, []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
			return 0, err
		}
		select {}
	})
	// FailAt squares x but fails on x == 500.
	FailAt = mp.Register("test.fail_at", func(ctx context.Context, x int) (int, error) {
		if x == 500 {
			return 0, fmt.Errorf("item %d: %w", x, ErrSoldOut)
		}
		return x * x, nil
	})
	// SleepSquare sleeps x milliseconds and returns x*x.
	SleepSquare = mp.Register("test.sleep_square", func(ctx context.Context, x int) (int, error) {
		select {
		case <-time.After(time.Duration(x) * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return x * x, nil
	})
	// InitMaybe fails when the file at path exists: an initializer that can be made to fail.
	InitMaybe = mp.Register("test.init_maybe", func(ctx context.Context, path string) (struct{}, error) {
		if _, err := os.Stat(path); err == nil {
			return struct{}{}, fmt.Errorf("initializer refuses: %s exists", path)
		}
		initialized = true
		return struct{}{}, nil
	})
	// Initialized reports whether InitMaybe ran in this worker.
	Initialized = mp.Register("test.initialized", func(ctx context.Context, _ struct{}) (bool, error) {
		return initialized, nil
	})
	// Segfault kills its own process with SIGSEGV, as a crash in cgo code would.
	Segfault = mp.Register("test.segfault", func(ctx context.Context, _ struct{}) (int, error) {
		syscall.Kill(os.Getpid(), syscall.SIGSEGV)
		select {}
	})
	// Grow allocates and keeps n MiB, touching every page.
	Grow = mp.Register("test.grow", func(ctx context.Context, mib int) (int, error) {
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hoard = append(hoard, b)
		return os.Getpid(), nil
	})
)

var (
	initialized bool
	hoard       [][]byte
)

// Hello2 wraps a string: a map over a type that is not plain.
var Hello2 = mp.Register("test.hello2", func(ctx context.Context, s string) (string, error) {
	return "<" + s + ">", nil
})
