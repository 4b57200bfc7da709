//go:build unix

package mp_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunSquare(t *testing.T) {
	got, err := mp.Run(ctxT(t), Square, 7)
	if err != nil || got != 49 {
		t.Fatalf("Run(Square, 7) = %d, %v; want 49, nil", got, err)
	}
}

func TestProcessLifecycle(t *testing.T) {
	ctx := ctxT(t)
	p := mp.NewProcess(Empty, struct{}{})
	if p.Pid() != 0 || p.Alive() || p.ExitCode() != -1 {
		t.Fatalf("before Start: pid %d alive %v exitcode %d; want 0 false -1", p.Pid(), p.Alive(), p.ExitCode())
	}
	if err := p.Wait(ctx); !errors.Is(err, mp.ErrNotStarted) {
		t.Fatalf("Wait before Start = %v; want ErrNotStarted", err)
	}
	for name, f := range map[string]func() error{"Terminate": p.Terminate, "Kill": p.Kill, "Signal": func() error { return p.Signal(syscall.SIGUSR1) }} {
		if err := f(); !errors.Is(err, mp.ErrNotStarted) {
			t.Errorf("%s before Start = %v; want ErrNotStarted", name, err)
		}
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Pid() <= 0 || p.Pid() == os.Getpid() {
		t.Fatalf("Pid() = %d, parent %d", p.Pid(), os.Getpid())
	}
	if err := p.Start(ctx); !errors.Is(err, mp.ErrAlreadyStarted) {
		t.Fatalf("second Start = %v; want ErrAlreadyStarted", err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("second Wait = %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Wait")
	}
	if p.Alive() || p.ExitCode() != 0 {
		t.Fatalf("after Wait: alive %v exitcode %d; want false 0", p.Alive(), p.ExitCode())
	}
	if err := p.Terminate(); err != nil {
		t.Fatalf("Terminate after exit = %v; want nil (no-op)", err)
	}
	if !strings.Contains(p.String(), "exitcode=0") {
		t.Errorf("String() = %s", p)
	}
}

func TestNamesAndInfo(t *testing.T) {
	ctx := ctxT(t)
	if c := mp.Current(); c.Name != "MainProcess" || c.Pid != os.Getpid() || c.Daemon || c.ParentPid != os.Getppid() {
		t.Fatalf("Current() in main = %+v", c)
	}
	if _, ok := mp.Parent(); ok {
		t.Fatal("Parent() in main reports a parent")
	}
	a := mp.NewProcess(Info, struct{}{})
	b := mp.NewProcess(Info, struct{}{})
	na, _ := strconv.Atoi(strings.TrimPrefix(a.Name(), "Process-"))
	nb, _ := strconv.Atoi(strings.TrimPrefix(b.Name(), "Process-"))
	if !strings.HasPrefix(a.Name(), "Process-") || nb != na+1 {
		t.Fatalf("default names %q, %q; want Process-N, Process-N+1", a.Name(), b.Name())
	}
	named := mp.NewProcess(Info, struct{}{}, mp.WithName("rocky"), mp.WithDaemon(true))
	for _, p := range []*mp.Process{a, named} {
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*mp.Process{a, named} {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := mp.Run(ctx, Info, struct{}{}, mp.WithName("rocky"), mp.WithDaemon(true))
	if err != nil {
		t.Fatal(err)
	}
	if res.Current.Name != "rocky" || !res.Current.Daemon || res.Current.Pid == os.Getpid() ||
		res.Current.ParentPid != os.Getpid() || res.Getppid != os.Getpid() {
		t.Errorf("child Current() = %+v (getppid %d); want rocky, daemon, parent %d", res.Current, res.Getppid, os.Getpid())
	}
	if !res.HasParent || res.Parent.Name != "MainProcess" || res.Parent.Pid != os.Getpid() {
		t.Errorf("child Parent() = %+v, %v; want MainProcess %d", res.Parent, res.HasParent, os.Getpid())
	}
	if err := named.Wait(ctx); err != nil || !named.Daemon() || named.Name() != "rocky" {
		t.Errorf("named process: %v %v %q", err, named.Daemon(), named.Name())
	}
	if err := mp.NewProcess(Info, struct{}{}, mp.WithName("")).Start(ctx); !errors.Is(err, mp.ErrInvalidOption) {
		t.Errorf("WithName(\"\") Start = %v; want ErrInvalidOption", err)
	}
}

func TestGrandchildNaming(t *testing.T) {
	res, err := mp.Run(ctxT(t), NestedInfo, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Current.Name, res.ParentName+":") {
		t.Errorf("grandchild named %q inside %q; want %q:N", res.Current.Name, res.ParentName, res.ParentName)
	}
	if res.Parent.Name != res.ParentName || res.Current.ParentPid != res.Parent.Pid {
		t.Errorf("grandchild's parent = %+v; want %s", res.Parent, res.ParentName)
	}
}

func TestErrorIdentity(t *testing.T) {
	ctx := ctxT(t)
	p := mp.NewProcess(Fail, "row 7")
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	err := p.Wait(ctx)
	if !errors.Is(err, ErrSoldOut) {
		t.Fatalf("Wait = %v; want an error matching ErrSoldOut", err)
	}
	var pe *mp.ProcessError
	if !errors.As(err, &pe) || pe.Pid != p.Pid() || pe.Name != p.Name() || !strings.Contains(pe.Message, `buying ticket "row 7": sold out`) || pe.Type != "*fmt.wrapError" {
		t.Fatalf("ProcessError = %+v", pe)
	}
	if p.ExitCode() != 1 {
		t.Errorf("ExitCode = %d; want 1", p.ExitCode())
	}
	if errors.Is(err, mp.ErrEncode) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error matches unrelated sentinels: %v", err)
	}

	_, err = mp.Run(ctx, FailNotExist, filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Run(open missing) = %v; want fs.ErrNotExist and ENOENT", err)
	}
}

func TestPanicError(t *testing.T) {
	ctx := ctxT(t)
	p := mp.NewProcess(Panic, "tickets")
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	err := p.Wait(ctx)
	var pe *mp.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Wait = %v (%T); want *PanicError", err, err)
	}
	if pe.Value != "boom: tickets" || pe.Pid != p.Pid() || !strings.Contains(pe.Stack, "mp_test.init") && !strings.Contains(pe.Stack, "mp_test.glob") {
		t.Fatalf("PanicError = %q pid %d stack:\n%s", pe.Value, pe.Pid, pe.Stack)
	}
	if p.ExitCode() != 1 {
		t.Errorf("ExitCode = %d; want 1", p.ExitCode())
	}
}

func TestExitCodes(t *testing.T) {
	ctx := ctxT(t)
	p := mp.NewProcess(Exit, 3)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	err := p.Wait(ctx)
	var ee *mp.ExitError
	if !errors.As(err, &ee) || ee.Code() != 3 || ee.Pid != p.Pid() || p.ExitCode() != 3 {
		t.Fatalf("os.Exit(3): Wait = %v, ExitCode %d; want *ExitError code 3", err, p.ExitCode())
	}
	p = mp.NewProcess(Exit, 0)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil || p.ExitCode() != 0 {
		t.Fatalf("os.Exit(0): Wait = %v, ExitCode %d; want nil, 0", err, p.ExitCode())
	}
	if _, err := mp.Run(ctx, Exit, 0); !errors.Is(err, mp.ErrNoResult) {
		t.Fatalf("Run(os.Exit(0)) = %v; want ErrNoResult", err)
	}
}

func TestTerminateKillSignal(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		stop func(*mp.Process) error
		code int
	}{
		{"Terminate", (*mp.Process).Terminate, -int(syscall.SIGTERM)},
		{"Kill", (*mp.Process).Kill, -int(syscall.SIGKILL)},
		{"Signal", func(p *mp.Process) error { return p.Signal(syscall.SIGINT) }, -int(syscall.SIGINT)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mp.NewProcess(Sleep, time.Minute)
			if err := p.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if !p.Alive() {
				t.Fatal("not alive after Start")
			}
			if err := tc.stop(p); err != nil {
				t.Fatal(err)
			}
			err := p.Wait(ctx)
			var ee *mp.ExitError
			if !errors.As(err, &ee) || ee.Code() != tc.code || p.ExitCode() != tc.code || p.Alive() {
				t.Fatalf("Wait = %v, ExitCode %d, alive %v; want *ExitError %d", err, p.ExitCode(), p.Alive(), tc.code)
			}
			if mptest.Exists(p.Pid()) {
				t.Fatalf("pid %d still exists", p.Pid())
			}
		})
	}
}

func TestWaitContextBoundsOnlyTheWait(t *testing.T) {
	ctx := ctxT(t)
	p := mp.NewProcess(Sleep, time.Minute)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(short) = %v; want DeadlineExceeded", err)
	}
	if !p.Alive() || !mptest.Exists(p.Pid()) {
		t.Fatal("the process died with the Wait's context")
	}
	p.Kill()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("Wait after Kill = nil")
	}
}

func TestStartContextBoundsOnlyTheStart(t *testing.T) {
	ctx, cancel := context.WithCancel(ctxT(t))
	p := mp.NewProcess(Sleep, 200*time.Millisecond)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := p.Wait(context.Background()); err != nil {
		t.Fatalf("process ended with %v after its Start context was cancelled; want it to run to the end", err)
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := mp.NewProcess(Empty, struct{}{}).Start(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start(cancelled ctx) = %v", err)
	}
}

func TestRunCancellationKills(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
	defer cancel()
	_, err := mp.Run(ctx, Spin, pidFile)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run(Spin) = %v; want DeadlineExceeded", err)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(string(b))
	if pid == 0 || mptest.Exists(pid) {
		t.Fatalf("spinning child %d still exists after Run returned", pid)
	}
}

func TestRunnerProcess(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "out")
	p := mp.NewRunnerProcess(&Ticket{Name: "Nick", Count: 3, Path: path}, mp.WithName("buyer"))
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "Nick 3 buyer" {
		t.Fatalf("runner wrote %q; want %q", b, "Nick 3 buyer")
	}
	// The handle works with NewProcess too.
	if _, err := mp.Run(ctx, TicketFunc, &Ticket{Name: "A", Path: path}); err != nil {
		t.Fatal(err)
	}
	if err := mp.NewRunnerProcess(unregisteredRunner{}).Start(ctx); !errors.Is(err, mp.ErrNotRegistered) || !strings.Contains(err.Error(), "unregisteredRunner") {
		t.Fatalf("unregistered runner: %v", err)
	}
}

type unregisteredRunner struct{}

func (unregisteredRunner) Run(context.Context) error { return nil }

func TestBadInput(t *testing.T) {
	ctx := ctxT(t)
	cases := []struct {
		name string
		p    *mp.Process
		want error
		text string
	}{
		{"nil func", mp.NewProcess[int, int](nil, 1), mp.ErrNotRegistered, "nil"},
		{"zero func", mp.NewProcess(&mp.Func[int, int]{}, 1), mp.ErrNotRegistered, ""},
		{"chan in struct", mp.NewProcess(TakeChan, ChanHolder{Name: "x", C: make(chan int)}), mp.ErrEncode, "mp_test.ChanHolder"},
		{"arg child cannot decode", mp.NewProcess(TakeBad, BadArg{X: 1}), mp.ErrDecode, "BadArg refuses to decode"},
		{"bad env", mp.NewProcess(Empty, struct{}{}, mp.WithEnv("NOEQUALS")), mp.ErrInvalidOption, "NOEQUALS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Start(ctx)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Start = %v; want %v mentioning %q", err, tc.want, tc.text)
			}
			if werr := tc.p.Wait(ctx); werr == nil {
				t.Fatal("Wait after a failed Start = nil")
			}
			if tc.p.Alive() {
				t.Fatal("alive after a failed Start")
			}
		})
	}
	// A result the codec cannot carry fails that process only, with a clear error.
	_, err := mp.Run(ctx, ReturnFunc, struct{}{})
	if !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "func()") {
		t.Fatalf("Run(ReturnFunc) = %v; want ErrEncode naming func()", err)
	}
}

func TestLargeResult(t *testing.T) {
	b, err := mp.Run(ctxT(t), Big, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8<<20 || b[12345] != byte(12345%256) {
		t.Fatalf("got %d bytes", len(b))
	}
}

func TestOutputRedirect(t *testing.T) {
	var out, errOut bytes.Buffer
	p := mp.NewProcess(Hello, "world", mp.WithName("greeter"), mp.WithStdout(&out), mp.WithStderr(&errOut))
	ctx := ctxT(t)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello world from greeter\n" || errOut.String() != "warning from greeter\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestEnvironment(t *testing.T) {
	ctx := ctxT(t)
	t.Setenv("MP_TEST_INHERITED", "from-parent")
	if v, err := mp.Run(ctx, Env, "MP_TEST_INHERITED"); err != nil || v != "from-parent" {
		t.Fatalf("inherited env = %q, %v", v, err)
	}
	if v, err := mp.Run(ctx, Env, "MP_TEST_INHERITED", mp.WithEnv("MP_TEST_INHERITED=override")); err != nil || v != "override" {
		t.Fatalf("WithEnv override = %q, %v", v, err)
	}
	if v, err := mp.Run(ctx, Env, "MP_CHILD_V1"); err != nil || v != "" {
		t.Fatalf("child still sees its marker: %q, %v", v, err)
	}
}

func TestChildInheritsNoDescriptors(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	leaky, tidy := filepath.Join(dir, "leaky"), filepath.Join(dir, "tidy")
	for _, p := range []string{leaky, tidy} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A descriptor without close-on-exec, as one inherited from a shell or opened by C code.
	fd, err := syscall.Open(leaky, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	f, err := os.Open(tidy)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, a := range []FDArg{{fd, leaky}, {int(f.Fd()), tidy}} {
		inherited, err := mp.Run(ctx, FDOpen, a)
		if err != nil {
			t.Fatal(err)
		}
		if inherited {
			t.Errorf("the child inherited descriptor %d (%s)", a.FD, a.Path)
		}
	}
	// Standard output is shared, as in Python.
	if inherited, err := mp.Run(ctx, FDOpen, FDArg{1, "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/1"}); err != nil || !inherited {
		t.Errorf("stdout not shared with the child: %v %v", inherited, err)
	}
}

func TestDaemonMayNotStartChildren(t *testing.T) {
	ctx := ctxT(t)
	_, err := mp.Run(ctx, StartChild, time.Millisecond, mp.WithDaemon(true))
	if !errors.Is(err, mp.ErrDaemonChildren) {
		t.Fatalf("daemon starting a child: %v; want ErrDaemonChildren", err)
	}
	pid, err := mp.Run(ctx, StartChild, time.Millisecond)
	if err != nil || pid == 0 {
		t.Fatalf("non-daemon starting a child: %d, %v", pid, err)
	}
}

func TestActiveChildrenAndReaping(t *testing.T) {
	ctx := ctxT(t)
	var ps []*mp.Process
	for range 3 {
		p := mp.NewProcess(Sleep, time.Minute)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	act := mp.ActiveChildren()
	if len(act) != 3 || act[0] != ps[0] || act[2] != ps[2] {
		t.Fatalf("ActiveChildren = %v; want the 3 started, in order", act)
	}
	for _, p := range ps {
		p.Kill()
	}
	// Without calling Wait, the children are reaped: none lingers as a zombie.
	if err := mptest.CheckNoChildren(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestManyConcurrentStarts(t *testing.T) {
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := mp.Run(ctx, Square, i)
			if err == nil && got != i*i {
				err = errors.New("wrong result " + strconv.Itoa(got))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Serial starts after the spawner thread went idle and exited.
	for i := range 5 {
		if got, err := mp.Run(ctx, Square, i); err != nil || got != i*i {
			t.Fatalf("Run #%d = %d, %v", i, got, err)
		}
	}
}

func TestNumCPU(t *testing.T) {
	if n := mp.NumCPU(); n < 1 || n > runtime.NumCPU() {
		t.Fatalf("NumCPU() = %d; runtime.NumCPU() = %d", n, runtime.NumCPU())
	}
}

// TestManyProcesses mirrors CPython's test_many_processes: start many, end half with SIGTERM and
// half with SIGKILL, and check every exit code.
func TestManyProcesses(t *testing.T) {
	ctx := ctxT(t)
	const n = 40
	ps := make([]*mp.Process, n)
	for i := range ps {
		ps[i] = mp.NewProcess(Sleep, time.Minute)
		if err := ps[i].Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range ps {
		if i%2 == 0 {
			p.Terminate()
		} else {
			p.Kill()
		}
	}
	for i, p := range ps {
		p.Wait(ctx)
		want := -int(syscall.SIGTERM)
		if i%2 == 1 {
			want = -int(syscall.SIGKILL)
		}
		if p.ExitCode() != want {
			t.Errorf("process %d: exit code %d; want %d", i, p.ExitCode(), want)
		}
	}
}
