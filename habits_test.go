//go:build unix

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// Python habits with a Go shape: starmap with Pair, map_async, Future.cancelled.

// Repeat is a function of two arguments returning two values.
var Repeat = mp.Register("test.repeat", func(ctx context.Context, a mp.Pair[string, int]) (mp.Pair[string, int], error) {
	return mp.MakePair(strings.Repeat(a.A, a.B), len(a.A)*a.B), nil
})

func TestExecutorHabits(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		got, err := mp.Map(ctx, ex, Repeat, []mp.Pair[string, int]{{"ab", 2}, mp.MakePair("x", 3)})
		if err != nil || !slices.Equal(got, []mp.Pair[string, int]{{"abab", 4}, {"xxx", 3}}) {
			t.Fatalf("Map(Repeat) = %v, %v", got, err)
		}
		fut := mp.MapAsync(ctx, ex, Square, ints(100))
		sq, err := fut.Wait(ctx)
		if err != nil || len(sq) != 100 || sq[99] != 99*99 || fut.Cancelled() {
			t.Fatalf("MapAsync = %d results, %v, cancelled %v", len(sq), err, fut.Cancelled())
		}
		if _, err := mp.MapAsync(ctx, ex, FailAt, ints(600)).Wait(ctx); !errors.Is(err, ErrSoldOut) {
			t.Fatalf("MapAsync of a failing task = %v", err)
		}
		hang := mp.MapAsync(ctx, ex, SleepSquare, []int{60_000})
		if !hang.Cancel() || !hang.Cancelled() {
			t.Fatal("Cancel of a pending MapAsync did not report it")
		}
		if _, err := hang.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after Cancel = %v", err)
		}
		if fut.Cancel() || fut.Cancelled() {
			t.Fatal("Cancel of a done future")
		}
	})
}

// SelfInfo is a Runner that writes what Python's run() reads as self.name and self.pid.
type SelfInfo struct{ Path string }

func (s *SelfInfo) Run(ctx context.Context) error {
	c := mp.Current()
	return os.WriteFile(s.Path, []byte(fmt.Sprintf("%s %d", c.Name, c.Pid)), 0o644)
}

var SelfInfoFunc = mp.RegisterRunner[*SelfInfo]("test.self_info")

// Inside a Runner's Run, mp.Current() gives the process's name and pid, as the parent sees them.
func TestRunnerSelfNameAndPid(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "self")
	p := mp.NewRunnerProcess(&SelfInfo{Path: path}, mp.WithName("finder"))
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("finder %d", p.Pid())
	if b, _ := os.ReadFile(path); string(b) != want || p.Name() != "finder" {
		t.Fatalf("Run saw %q; want %q", b, want)
	}
}

// mp.Wait is concurrent.futures.wait: (done, not done) by return_when, bounded by ctx.
func TestExecutorWaitReturnWhen(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		hang := mp.Submit(ctx, ex, SleepSquare, 60_000)
		defer hang.Cancel()
		fast := mp.Submit(ctx, ex, Square, 4)
		done, notDone, err := mp.Wait(ctx, mp.FirstCompleted, hang, fast)
		if err != nil || !slices.Equal(done, []*mp.Future[int]{fast}) || !slices.Equal(notDone, []*mp.Future[int]{hang}) {
			t.Fatalf("Wait(FirstCompleted) = %v, %v, %v", done, notDone, err)
		}
		failing := mp.Submit(ctx, ex, FailAt, 500)
		done, notDone, err = mp.Wait(ctx, mp.FirstException, hang, failing, fast)
		if err != nil || !slices.Equal(done, []*mp.Future[int]{failing, fast}) || len(notDone) != 1 {
			t.Fatalf("Wait(FirstException) = %v, %v, %v", done, notDone, err)
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		done, notDone, err = mp.Wait(short, mp.AllCompleted, fast, hang)
		if !errors.Is(err, context.DeadlineExceeded) || len(done) != 1 || len(notDone) != 1 {
			t.Fatalf("Wait(AllCompleted) past its ctx = %v, %v, %v", done, notDone, err)
		}
		done, notDone, err = mp.Wait(ctx, mp.AllCompleted, fast, failing, fast)
		if err != nil || len(done) != 2 || notDone != nil {
			t.Fatalf("Wait(AllCompleted) = %v, %v, %v", done, notDone, err)
		}
	})
}
