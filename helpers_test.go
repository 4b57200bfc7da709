//go:build unix

package mp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

// runHelper is main for the test binary run as a parent program (MP_TEST_HELPER=mode). It
// reports on stdout and ends as the mode says.
func runHelper(mode string) {
	ctx := context.Background()
	check := func(err error) {
		if err != nil {
			fmt.Println("helper error:", err)
			os.Exit(10)
		}
	}
	switch {
	case strings.HasPrefix(mode, "orphans:"):
		how := strings.TrimPrefix(mode, "orphans:")
		if how == "sigkill-nopdeath" {
			os.Setenv("MP_DEBUG_NO_PDEATHSIG", "1")
		}
		a := mp.NewProcess(Sleep, time.Hour)
		check(a.Start(ctx))
		pidFile := os.Getenv("MP_TEST_PIDFILE")
		b := mp.NewProcess(StartGrandchild, pidFile)
		check(b.Start(ctx))
		var grandchild int
		for deadline := time.Now().Add(10 * time.Second); grandchild == 0 && time.Now().Before(deadline); {
			if data, err := os.ReadFile(pidFile); err == nil && len(data) > 0 {
				grandchild, _ = strconv.Atoi(string(data))
			} else {
				time.Sleep(5 * time.Millisecond)
			}
		}
		fmt.Printf("pids %d %d %d\n", a.Pid(), b.Pid(), grandchild)
		// Wait for the test to have seen the processes alive, then end as told.
		bufio.NewReader(os.Stdin).ReadString('\n')
		switch how {
		case "return":
			return
		case "exit":
			os.Exit(3)
		case "panic":
			panic("helper panics on purpose")
		default: // sigkill, sigkill-nopdeath: wait for the test to kill us
			time.Sleep(time.Hour)
		}
	case mode == "cleanup":
		defer mp.Cleanup()
		path := os.Getenv("MP_TEST_TOUCH")
		d := mp.NewProcess(Sleep, time.Hour, mp.WithDaemon(true))
		check(d.Start(ctx))
		n := mp.NewProcess(Touch, TouchArg{Path: path, After: 300 * time.Millisecond})
		check(n.Start(ctx))
		fmt.Printf("pids %d %d\n", d.Pid(), n.Pid())
	case mode == "ctrlc":
		// A program that shuts its pool down in an orderly way on Ctrl-C.
		sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		p, err := mp.NewPool(ctx, mp.WithWorkers(2))
		check(err)
		pids := p.Pids()
		fmt.Printf("pids %d %d\n", pids[0], pids[1])
		_, err = mp.Map(sctx, p, SleepSquare, slices.Repeat([]int{1000}, 100), mp.WithChunkSize(1))
		fmt.Println("map:", err)
		sdctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		fmt.Println("shutdown:", p.Shutdown(sdctx))
	case strings.HasPrefix(mode, "unobserved:"):
		// Children that fail, and a parent that returns through Cleanup: without Wait (their
		// failures are reported), with Wait, or with WithQuietFailures (nothing is).
		how := strings.TrimPrefix(mode, "unobserved:")
		defer mp.Cleanup()
		var opts []mp.ProcessOption
		if how == "quiet" {
			opts = append(opts, mp.WithQuietFailures())
		}
		procs := []*mp.Process{
			mp.NewProcess(Fail, "unobserved", append(opts, mp.WithName("failer"))...),
			mp.NewProcess(Panic, "unobserved", append(opts, mp.WithName("panicker"))...),
			mp.NewProcess(Exit, 3, append(opts, mp.WithName("exiter"))...),
			// Ended by this process, not failures: a daemon that Cleanup terminates, a child killed.
			mp.NewProcess(Sleep, time.Hour, mp.WithName("daemon"), mp.WithDaemon(true)),
			mp.NewProcess(Sleep, time.Hour, mp.WithName("killed")),
		}
		var pids []string
		for _, p := range procs {
			check(p.Start(ctx))
			pids = append(pids, strconv.Itoa(p.Pid()))
		}
		fmt.Println("pids", strings.Join(pids, " "))
		check(procs[4].Kill())
		if how == "wait" {
			// Observed: two by Wait, one by reading its exit code, as Python's join and exitcode.
			fmt.Println("wait:", procs[0].Wait(ctx) != nil, procs[2].Wait(ctx) != nil)
			<-procs[1].Done()
			fmt.Println("exit code:", procs[1].ExitCode())
		}
	case mode == "main:join":
		// mp.Main joins a non-daemon child, and reports one that failed unobserved.
		mp.Main(func(ctx context.Context) error {
			n := mp.NewProcess(Touch, TouchArg{Path: os.Getenv("MP_TEST_TOUCH"), After: 300 * time.Millisecond})
			check(n.Start(ctx))
			f := mp.NewProcess(Fail, "in main", mp.WithName("failer"))
			check(f.Start(ctx))
			fmt.Printf("pids %d %d\n", n.Pid(), f.Pid())
			return nil
		})
	case mode == "main:panic":
		// A panicking main function still joins its non-daemon child before the panic goes on.
		mp.Main(func(ctx context.Context) error {
			n := mp.NewProcess(Touch, TouchArg{Path: os.Getenv("MP_TEST_TOUCH"), After: 300 * time.Millisecond})
			check(n.Start(ctx))
			fmt.Printf("pids %d\n", n.Pid())
			panic("main panics on purpose")
		})
	case mode == "main:error":
		mp.Main(func(ctx context.Context) error {
			return errors.New("the main function failed on purpose")
		})
	case mode == "main:sigint":
		// SIGINT cancels Main's ctx: the pool's task sees it end, the function returns, and
		// Cleanup terminates the daemon child.
		mp.Main(func(ctx context.Context) error {
			d := mp.NewProcess(Sleep, time.Hour, mp.WithDaemon(true))
			check(d.Start(ctx))
			p, err := mp.NewPool(ctx, mp.WithWorkers(1))
			check(err)
			defer p.Close()
			fmt.Printf("pids %d %d\n", d.Pid(), p.Pids()[0])
			_, err = mp.Apply(ctx, p, SleepSquare, int(time.Hour/time.Millisecond))
			fmt.Printf("apply: %v; cause: %v\n", err, context.Cause(ctx))
			return err
		})
	case mode == "numcpu":
		fmt.Printf("numcpu %d\n", mp.NumCPU())
	case mode == "replaced":
		check(os.Remove(os.Args[0]))
		check(os.WriteFile(os.Args[0], []byte("#!/bin/sh\necho replaced binary ran\nexit 7\n"), 0o755))
		got, err := mp.Run(ctx, Square, 6)
		check(err)
		fmt.Printf("square %d\n", got)
	default:
		fmt.Println("unknown helper mode", mode)
		os.Exit(11)
	}
}

// noInitMain is main for a child whose program forgets mp.Init (MP_TEST_NOINIT=mode).
func noInitMain() {
	switch os.Getenv("MP_TEST_NOINIT") {
	case "start":
		p := mp.NewProcess(Empty, struct{}{})
		err := p.Start(context.Background())
		fmt.Println("UNREACHABLE: the child started a child of its own:", err)
		os.Exit(0)
	case "exit3":
		os.Exit(3)
	case "hang":
		time.Sleep(time.Minute)
	}
	os.Exit(0)
}

// startHelper runs the test binary (or a copy at exe) as a parent program in the given mode, and
// returns it with a reader on its standard output.
func startHelper(t *testing.T, exe, mode string, env ...string) (*exec.Cmd, *bufio.Reader, io.WriteCloser) {
	t.Helper()
	if exe == "" {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "MP_TEST_HELPER="+mode)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second // children that outlive the helper hold its stderr open
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("helper's stderr:\n%s", stderr.String())
		}
	})
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out), in
}

func readPids(t *testing.T, r *bufio.Reader) []int {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper's pids: %q, %v", line, err)
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "pids" {
		t.Fatalf("helper said %q", line)
	}
	var pids []int
	for _, s := range f[1:] {
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 {
			t.Fatalf("helper said %q", line)
		}
		pids = append(pids, pid)
	}
	return pids
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for mptest.Exists(pid) {
			if time.Now().After(deadline) {
				st, _ := mptest.Stat(pid)
				t.Fatalf("process %d outlived its parent: %+v", pid, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestChildrenDieWithParent kills or ends a parent program in every way it can end and checks
// that its children and grandchildren end too.
func TestChildrenDieWithParent(t *testing.T) {
	for _, how := range []string{"return", "exit", "panic", "sigkill", "sigkill-nopdeath"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			cmd, out, in := startHelper(t, "", "orphans:"+how, "MP_TEST_PIDFILE="+filepath.Join(t.TempDir(), "pid"))
			pids := readPids(t, out)
			if len(pids) != 3 {
				t.Fatalf("pids %v", pids)
			}
			for _, pid := range pids {
				if !mptest.Exists(pid) {
					st, ok := mptest.Stat(pid)
					t.Fatalf("process %d of %v not running before its parent ends: %+v %v", pid, pids, st, ok)
				}
			}
			if strings.HasPrefix(how, "sigkill") {
				cmd.Process.Signal(syscall.SIGKILL)
			} else {
				io.WriteString(in, "go\n")
			}
			go io.Copy(io.Discard, out)
			cmd.Wait()
			waitGone(t, pids...)
		})
	}
}

// TestCleanupAppliesExitRules: on return from main, Cleanup waits for the non-daemon child and
// terminates the daemon one.
func TestCleanupAppliesExitRules(t *testing.T) {
	touch := filepath.Join(t.TempDir(), "touched")
	cmd, out, _ := startHelper(t, "", "cleanup", "MP_TEST_TOUCH="+touch)
	pids := readPids(t, out)
	go io.Copy(io.Discard, out)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Cleanup did not return: the daemon child was waited for instead of terminated")
	}
	if b, err := os.ReadFile(touch); err != nil || string(b) != "done" {
		t.Fatalf("the non-daemon child was not waited for: %q, %v", b, err)
	}
	waitGone(t, pids...)
}

// TestReplacedBinary: children are executed through the kernel's link to the running binary, so
// replacing the file on disk does not change what a child runs.
func TestReplacedBinary(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "mp-helper")
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, out, _ := startHelper(t, exe, "replaced")
	line, _ := out.ReadString('\n')
	if line != "square 36\n" {
		t.Fatalf("helper said %q", line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestChildWithoutInit: a program whose main does not call mp.Init first gets a clear error, and
// its child never starts children of its own.
func TestChildWithoutInit(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		mode    string
		env     []string
		want    error
		stderr  string
		exitErr int
	}{
		{mode: "start", want: mp.ErrNoInit, stderr: "mp: FATAL"},
		{mode: "hang", env: []string{"MP_INIT_TIMEOUT=300ms"}, want: mp.ErrNoInit, stderr: "was not called within 300ms"},
		{mode: "exit0", want: mp.ErrHandshake},
		{mode: "exit3", want: mp.ErrHandshake, exitErr: 3},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var stdout, stderr strings.Builder
			p := mp.NewProcess(Empty, struct{}{}, mp.WithEnv(append(tc.env, "MP_TEST_NOINIT="+tc.mode)...),
				mp.WithStdout(&stdout), mp.WithStderr(&stderr))
			err := p.Start(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start = %v; want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "mp.Init") {
				t.Errorf("error %q does not say what to do", err)
			}
			if tc.exitErr != 0 {
				var ee *mp.ExitError
				if !errors.As(err, &ee) || ee.Code() != tc.exitErr {
					t.Errorf("Start = %v; want an *ExitError with code %d", err, tc.exitErr)
				}
			}
			p.Wait(ctx)
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("child's stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if strings.Contains(stdout.String(), "UNREACHABLE") {
				t.Errorf("the child started a child: %q", stdout.String())
			}
		})
	}
}

// TestCtrlC sends SIGINT to a program's process group, as a terminal's Ctrl-C does: the workers do
// not react, the program cancels its map and shuts its pool down, nothing is printed by the
// workers, and no process is left behind.
func TestCtrlC(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MP_TEST_HELPER=ctrlc")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a shell job
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("program's stderr: %s", stderr.String())
		}
	})
	r := bufio.NewReader(out)
	pids := readPids(t, r)
	time.Sleep(200 * time.Millisecond) // the map is under way
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("program exited with %v; stdout %q stderr %q", err, rest, stderr.String())
	}
	if !strings.Contains(string(rest), "map: context canceled") || !strings.Contains(string(rest), "shutdown: <nil>") {
		t.Fatalf("program said %q", rest)
	}
	if stderr.Len() != 0 {
		t.Fatalf("noise on stderr: %q", stderr.String())
	}
	waitGone(t, pids...)
}

// must returns v, and panics (failing the test, with err's message) if err is not nil: for the
// constructors a test cannot go on without.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("must: %v", err))
	}
	return v
}
