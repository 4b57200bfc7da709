//go:build unix

package mp_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// finish waits, bounded, for a helper started by startHelper to exit, with the rest of its
// standard output, and returns its exit code and that output.
func finish(t *testing.T, cmd *exec.Cmd, out io.Reader) (int, string) {
	t.Helper()
	rest := make(chan string, 1)
	go func() { b, _ := io.ReadAll(out); rest <- string(b) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("helper: %v", err)
		}
		return cmd.ProcessState.ExitCode(), <-rest
	case <-time.After(30 * time.Second):
		t.Fatal("the helper program did not exit")
		return 0, ""
	}
}

// helperStderr returns what a helper started by startHelper wrote on standard error.
func helperStderr(cmd *exec.Cmd) string { return cmd.Stderr.(*strings.Builder).String() }

// TestUnobservedFailuresReported: a parent that never waits for its failing children returns
// through Cleanup, which names each on standard error with its pid and error, and the panicking
// function's frame; children this process ended itself (a daemon Cleanup terminates, a child it
// killed) are not failures. With Wait (or ExitCode read once it ended), or WithQuietFailures,
// nothing is printed.
func TestUnobservedFailuresReported(t *testing.T) {
	for _, how := range []string{"nowait", "wait", "quiet"} {
		t.Run(how, func(t *testing.T) {
			cmd, out, _ := startHelper(t, "", "unobserved:"+how)
			pids := readPids(t, out)
			code, rest := finish(t, cmd, out)
			stderr := helperStderr(cmd)
			if code != 0 {
				t.Fatalf("helper exited %d; stdout %q", code, rest)
			}
			waitGone(t, pids...)
			if how == "wait" && rest != "wait: true true\nexit code: 1\n" {
				t.Errorf("helper said %q", rest)
			}
			if how != "nowait" {
				if stderr != "" {
					t.Fatalf("the parent %s, and something was reported:\n%s", how, stderr)
				}
				return
			}
			for _, want := range []string{
				"mp: child process failer (pid " + itoa(pids[0]) + ") failed, and nothing waited for it:\n",
				`buying ticket "unobserved": sold out`,
				"mp: child process panicker (pid " + itoa(pids[1]) + ") failed",
				"panicked: boom: unobserved\n",
				"main_test.go:", // the panicking function's frame
				"mp: child process exiter (pid " + itoa(pids[2]) + ") failed",
				"exited with status 3",
				"WithQuietFailures()",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("the report lacks %q:\n%s", want, stderr)
				}
			}
			for _, unwanted := range []string{"daemon", "killed", "runtime/debug.Stack"} {
				if strings.Contains(stderr, unwanted) {
					t.Errorf("the report has %q:\n%s", unwanted, stderr)
				}
			}
			// The panic's stack is cut to its first lines.
			if n := strings.Count(stderr, "\n"); n > 30 {
				t.Errorf("the report has %d lines:\n%s", n, stderr)
			}
		})
	}
}

// TestMainJoinsChildren: a program whose main is mp.Main waits for its non-daemon child before
// exiting (without any defer mp.Cleanup()), and reports the child that failed unobserved.
func TestMainJoinsChildren(t *testing.T) {
	touch := filepath.Join(t.TempDir(), "touched")
	cmd, out, _ := startHelper(t, "", "main:join", "MP_TEST_TOUCH="+touch)
	pids := readPids(t, out)
	if code, rest := finish(t, cmd, out); code != 0 {
		t.Fatalf("helper exited %d; stdout %q", code, rest)
	}
	if b, err := os.ReadFile(touch); err != nil || string(b) != "done" {
		t.Fatalf("the non-daemon child was not waited for: %q, %v", b, err)
	}
	if want := "mp: child process failer (pid " + itoa(pids[1]) + ") failed"; !strings.Contains(helperStderr(cmd), want) {
		t.Errorf("stderr lacks %q:\n%s", want, helperStderr(cmd))
	}
	waitGone(t, pids...)
}

// TestMainPanic: when Main's function panics, the non-daemon child is still joined, and then the
// panic goes on as Go's own: its message on standard error, exit status 2.
func TestMainPanic(t *testing.T) {
	touch := filepath.Join(t.TempDir(), "touched")
	cmd, out, _ := startHelper(t, "", "main:panic", "MP_TEST_TOUCH="+touch)
	pids := readPids(t, out)
	if code, _ := finish(t, cmd, out); code != 2 || !strings.Contains(helperStderr(cmd), "panic: main panics on purpose") {
		t.Fatalf("helper exited %d with stderr %q; want 2 and the panic", code, helperStderr(cmd))
	}
	if b, err := os.ReadFile(touch); err != nil || string(b) != "done" {
		t.Fatalf("the non-daemon child was not waited for: %q, %v", b, err)
	}
	waitGone(t, pids...)
}

// TestMainError: an error returned by Main's function is printed, after the program's name, and
// the program exits 1.
func TestMainError(t *testing.T) {
	cmd, out, _ := startHelper(t, "", "main:error")
	code, _ := finish(t, cmd, out)
	want := filepath.Base(os.Args[0]) + ": the main function failed on purpose\n"
	if code != 1 || helperStderr(cmd) != want {
		t.Fatalf("helper exited %d with stderr %q; want 1 and %q", code, helperStderr(cmd), want)
	}
}

// TestMainSIGINT: SIGINT cancels Main's ctx, with the signal as its cause; the pool's task ends
// with it, the function returns, Cleanup terminates the daemon child, and the program exits 130
// (128+SIGINT) without noise, leaving no process behind.
func TestMainSIGINT(t *testing.T) {
	cmd, out, _ := startHelper(t, "", "main:sigint")
	pids := readPids(t, out)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code, rest := finish(t, cmd, out)
	if code != 130 {
		t.Errorf("helper exited %d; want 130", code)
	}
	if !regexp.MustCompile(`^apply: (context canceled|mp.Main: received signal interrupt: context canceled); cause: mp.Main: received signal interrupt: context canceled\n$`).MatchString(rest) {
		t.Errorf("helper said %q", rest)
	}
	if s := helperStderr(cmd); s != "" {
		t.Errorf("noise on stderr: %q", s)
	}
	waitGone(t, pids...)
}

func itoa(n int) string { return strconv.Itoa(n) }
