//go:build linux

package dashboard_test

import (
	"context"
	"errors"
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

	"github.com/chromedp/chromedp"
	"github.com/mp-go/mp"
	"github.com/mp-go/mp/dashboard"
)

// Stubborn sleeps for d and ignores its context, so that cancelling it needs its worker killed.
var Stubborn = mp.Register("dashboard_test.stubborn", func(ctx context.Context, d time.Duration) (int, error) {
	time.Sleep(d)
	return os.Getpid(), nil
})

// Nap sleeps for d or until its context ends.
var Nap = mp.Register("dashboard_test.nap", func(ctx context.Context, d time.Duration) (int, error) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return os.Getpid(), nil
})

// ErrTest is a registered error, so the failures view shows an identity.
var ErrTest = mp.RegisterError("dashboard_test.boom", errors.New("boom"))

// Fail fails with ErrTest, or panics when asked.
var Fail = mp.Register("dashboard_test.fail", func(ctx context.Context, panics bool) (int, error) {
	if panics {
		panic("dashboard_test: a panic on purpose")
	}
	return 0, fmt.Errorf("the test asked for it: %w", ErrTest)
})

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the views' screenshots go: $MP_DASHBOARD_SCREENSHOTS, or a temporary
// directory of the test.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("MP_DASHBOARD_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowser drives the dashboard of a real pool in a real headless Chromium, one browser for
// all its subtests: the workers table follows the pool, a SIGKILLed worker shows its reason and
// its replacement, the cancel button kills the task's process, and each view is photographed.
func TestBrowser(t *testing.T) {
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("no Chromium found (apt-get install -y chromium): skipping the browser tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	p, err := mp.NewPool(ctx, mp.WithWorkers(2), mp.WithPoolName("browser"), mp.WithCancelGrace(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	q, err := mp.NewQueue[int](8)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := range 3 {
		q.Put(ctx, i)
	}
	m, err := mp.StartManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	d := dashboard.New(dashboard.WithInterval(100 * time.Millisecond))
	d.AddPool(p)
	d.AddQueue("jobs", q)
	d.AddManager("state", m)
	mux := http.NewServeMux()
	mux.Handle("/debug/mp/", http.StripPrefix("/debug/mp", d.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer d.Close()
	base := srv.URL + "/debug/mp/"

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer func() {
		bcancel()
		acancel()
	}()
	if err := chromedp.Do(bctx, chromedp.Navigate(base)); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}

	// text returns the inner text of the first element matching sel, "" if there is none.
	text := func(sel string) string {
		js := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.innerText:""})()`, sel)
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluating %s: %v", sel, err)
		}
		return s
	}
	// waitText waits up to limit for the element sel to contain want, and returns how long it took.
	waitText := func(sel, want string, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			if strings.Contains(text(sel), want) {
				return time.Since(start)
			}
			if time.Since(start) > limit {
				t.Fatalf("after %v, %s shows %q, want it to contain %q", limit, sel, text(sel), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// snapWorker waits for the pool's snapshot to show a worker that f accepts.
	snapWorker := func(f func(mp.WorkerSnapshot) bool) mp.WorkerSnapshot {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, w := range p.Snapshot().Workers {
				if f(w) {
					return w
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no such worker in %+v", p.Snapshot().Workers)
		return mp.WorkerSnapshot{}
	}

	t.Run("WorkersFollowThePool", func(t *testing.T) {
		w := snapWorker(func(w mp.WorkerSnapshot) bool { return w.Pid != 0 && w.State == "idle" })
		waitText(fmt.Sprintf(`tr[data-pid="%d"] .state`, w.Pid), "idle", 5*time.Second)
		fut := mp.Submit(ctx, p, Nap, 1500*time.Millisecond)
		busy := snapWorker(func(w mp.WorkerSnapshot) bool { return w.State == "busy" })
		took := waitText(fmt.Sprintf(`tr[data-pid="%d"]`, busy.Pid), "dashboard_test.nap", time.Second)
		t.Logf("the busy worker showed %v after the pool's snapshot did", took)
		if _, err := fut.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		waitText(fmt.Sprintf(`tr[data-pid="%d"] .state`, busy.Pid), "idle", time.Second)
	})

	t.Run("SIGKILLShowsReasonAndReplacement", func(t *testing.T) {
		victim := snapWorker(func(w mp.WorkerSnapshot) bool { return w.Pid != 0 && w.State == "idle" })
		if err := syscall.Kill(victim.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitText(fmt.Sprintf(`table.exits tr[data-pid="%d"] .reason`, victim.Pid), string(mp.ExitSignal), 5*time.Second)
		repl := snapWorker(func(w mp.WorkerSnapshot) bool { return w.Replaces == victim.ID })
		row := fmt.Sprintf(`table.workers tr[data-pid="%d"]`, repl.Pid)
		waitText(row, fmt.Sprintf("#%d (pid %d): signal", victim.ID, victim.Pid), 5*time.Second)
		t.Logf("replacement row: %q", text(row))
	})

	t.Run("CancelKillsTheProcess", func(t *testing.T) {
		fut := mp.Submit(ctx, p, Stubborn, time.Minute)
		busy := snapWorker(func(w mp.WorkerSnapshot) bool { return w.Task == "dashboard_test.stubborn" })
		btn := fmt.Sprintf(`tr[data-pid="%d"] button.cancel`, busy.Pid)
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(btn)), chromedp.Click(chromedp.CSS(btn))); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := fut.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("the cancelled task returned %v, want context.Canceled", err)
		}
		for syscall.Kill(busy.Pid, 0) == nil {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("worker %d still alive %v after cancel", busy.Pid, time.Since(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("the task's process %d was gone %v after the click", busy.Pid, time.Since(start))
		if err := chromedp.Do(bctx, chromedp.Navigate(base)); err != nil {
			t.Fatal(err)
		}
		waitText(fmt.Sprintf(`table.exits tr[data-pid="%d"] .reason`, busy.Pid), string(mp.ExitCancel), 5*time.Second)
	})

	t.Run("RecycleAndPauseButtons", func(t *testing.T) {
		w := snapWorker(func(w mp.WorkerSnapshot) bool { return w.Pid != 0 && w.State == "idle" })
		btn := fmt.Sprintf(`tr[data-pid="%d"] button.recycle`, w.Pid)
		if err := chromedp.Do(bctx, chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(btn)), chromedp.Click(chromedp.CSS(btn))); err != nil {
			t.Fatal(err)
		}
		waitText(fmt.Sprintf(`table.exits tr[data-pid="%d"] .reason`, w.Pid), string(mp.ExitRecycled), 5*time.Second)
		snapWorker(func(n mp.WorkerSnapshot) bool { return n.Replaces == w.ID })

		if err := chromedp.Do(bctx, chromedp.Navigate(base+"pools"), chromedp.WaitVisible(chromedp.CSS("button.pause")), chromedp.Click(chromedp.CSS("button.pause"))); err != nil {
			t.Fatal(err)
		}
		waitText("main h2", "paused", 5*time.Second)
		if !p.Snapshot().Paused {
			t.Fatal("the page says paused, the pool is not")
		}
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("button.pause"))); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for p.Snapshot().Paused {
			if time.Now().After(deadline) {
				t.Fatal("resume did not resume the pool")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("Screenshots", func(t *testing.T) {
		// Something for every view: failures with and without a stack, a Map running.
		mp.Apply(ctx, p, Fail, false)
		mp.Apply(ctx, p, Fail, true)
		for range 40 {
			mp.Apply(ctx, p, Nap, 5*time.Millisecond)
		}
		mctx, mcancel := context.WithCancel(ctx)
		defer mcancel()
		mapped := make(chan struct{})
		go func() {
			defer close(mapped)
			xs := make([]time.Duration, 60)
			for i := range xs {
				xs[i] = 100 * time.Millisecond
			}
			mp.Map(mctx, p, Nap, xs, mp.WithChunkSize(1))
		}()
		defer func() { mcancel(); <-mapped }()
		for deadline := time.Now().Add(30 * time.Second); len(p.Snapshot().Maps) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the Map did not show in the pool's snapshot within 30s")
			}
		}
		dir := screenshotDir(t)
		for _, v := range []struct{ path, name, want string }{
			{"", "workers", "busy"}, {"pools", "pools", "items/s"}, {"failures", "failures", "dashboard_test.boom"},
			{"maps", "maps", "dashboard_test.nap"}, {"queues", "queues", "jobs"}, {"managers", "managers", "state"},
			{"cluster", "cluster", "No cluster"},
		} {
			if err := chromedp.Do(bctx, chromedp.Navigate(base+v.path)); err != nil {
				t.Fatal(err)
			}
			waitText("main", v.want, 5*time.Second)
			if v.name == "failures" {
				waitText("main", "a panic on purpose", time.Second) // the panic's message, its stack folded under it
				if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("main details summary"))); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(text("main details pre"), "goroutine") {
					t.Errorf("the panic's stack is not on the failures page: %q", text("main details pre"))
				}
			}
			png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, "dashboard-"+v.name+".png")
			if err := os.WriteFile(f, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", f, len(png))
		}
	})
}
