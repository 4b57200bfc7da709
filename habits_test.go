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
