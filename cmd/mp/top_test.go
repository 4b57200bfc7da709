//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

// TestMain runs the command itself when MP_TOP_MAIN is set (the test starts it that way in a
// tmux pane), and otherwise the tests, this binary being its own pool worker.
func TestMain(m *testing.M) {
	if os.Getenv("MP_TOP_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	mptest.Main(m)
}

var sleep = mp.Register("mptop_test.sleep", func(ctx context.Context, d time.Duration) (struct{}, error) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	return struct{}{}, nil
})

// serveSnapshots serves the snapshot of p as the dashboard does, under /app.
func serveSnapshots(t *testing.T, p *mp.Pool) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/api/snapshot", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"time":     time.Now(),
			"pools":    []mp.PoolSnapshot{p.Snapshot()},
			"queues":   []map[string]any{{"name": "jobs", "len": 3, "cap": 10}},
			"managers": []map[string]any{{"name": "state", "objects": 2, "connections": 1}},
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/app"
}

// TestTopInTmux runs mp top in a real terminal (a tmux pane) against a real pool: the screen shows
// the workers' pids, shows a SIGKILLed worker's end and its replacement within about two
// seconds, and q quits.
func TestTopInTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (apt-get install -y tmux): mp top is not tested in a terminal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2), mp.WithPoolName("tmuxed"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	url := serveSnapshots(t, p)
	f := mp.Submit(ctx, p, sleep, time.Minute)
	defer f.Cancel()

	sock := filepath.Join(t.TempDir(), "tmux") // a server of our own, its socket removed with the directory
	tm := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tm("kill-server") })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("env MP_TOP_MAIN=1 %s top -url %s; echo mp-top-exited-$?; sleep 30", exe, url)
	if out, err := tm("new-session", "-d", "-s", "top", "-x", "160", "-y", "50", cmd); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	screen := func() string {
		out, _ := tm("capture-pane", "-p", "-t", "top")
		return out
	}
	waitScreen := func(what string, limit time.Duration, cond func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			s := screen()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %v the screen does not show %s:\n%s", limit, what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	pids := p.Pids()
	s := waitScreen("the workers' pids", 20*time.Second, func(s string) bool {
		for _, pid := range pids {
			if !strings.Contains(s, fmt.Sprint(pid)) {
				return false
			}
		}
		return strings.Contains(s, "POOL tmuxed")
	})
	t.Logf("the screen:\n%s", s)
	for _, want := range []string{"mptop_test.sleep", "busy", "idle", "jobs", "objects 2"} {
		if !strings.Contains(s, want) {
			t.Fatalf("the screen lacks %q:\n%s", want, s)
		}
	}

	// Kill the idle worker: the screen shows its end, by SIGKILL, and a new pid, within ~2 s.
	var victim mp.WorkerSnapshot
	for _, w := range p.Snapshot().Workers {
		if w.State == "idle" {
			victim = w
		}
	}
	if err := syscall.Kill(victim.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var replacement int
	waitFor := func(cond func() bool) {
		deadline := time.Now().Add(20 * time.Second)
		for !cond() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(func() bool {
		for _, w := range p.Snapshot().Workers {
			if w.Replaces == victim.ID {
				replacement = w.Pid
				return true
			}
		}
		return false
	})
	if replacement == 0 {
		t.Fatal("no replacement for the killed worker")
	}
	changed := time.Now()
	waitScreen("the killed worker's end and its replacement", 3*time.Second, func(s string) bool {
		return strings.Contains(s, fmt.Sprint(replacement)) && strings.Contains(s, fmt.Sprintf("(pid %d)", victim.Pid)) && strings.Contains(s, "SIGKILL")
	})
	t.Logf("the screen showed the replacement %v after it started", time.Since(changed).Round(time.Millisecond))

	// q quits, with status 0.
	if out, err := tm("send-keys", "-t", "top", "q"); err != nil {
		t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
	waitScreen("mp top's exit", 5*time.Second, func(s string) bool { return strings.Contains(s, "mp-top-exited-0") })
}

// TestTopBadInput: bad command lines are refused with a usage message and status 2.
func TestTopBadInput(t *testing.T) {
	for _, args := range [][]string{nil, {"bottom"}, {"top", "-interval", "1ms"}, {"top", "-url", "localhost:80"}, {"top", "extra"}} {
		var out strings.Builder
		if code := run(args, os.Stdin, &out, &out); code != 2 || out.Len() == 0 {
			t.Fatalf("run(%q) = %d, %q", args, code, out.String())
		}
	}
}

// TestRenderError: a snapshot that cannot be fetched is shown, not fatal.
func TestRenderError(t *testing.T) {
	s := render("http://x", time.Second, nil, fmt.Errorf("connection refused"), time.Now())
	if !strings.Contains(s, "connection refused") || !strings.Contains(s, "retrying") {
		t.Fatalf("render of an error: %q", s)
	}
	_, err := fetch(context.Background(), http.DefaultClient, "http://127.0.0.1:1")
	if err == nil {
		t.Fatal("fetch from a closed port succeeded")
	}
}
