//go:build unix

package mp

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var gcFail = Register("internal.gc_fail", func(ctx context.Context, _ struct{}) (int, error) {
	return 0, errors.New("failed, and its *Process was dropped")
})

// lockedBuffer is a strings.Builder safe for the runtime's cleanup goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestUnobservedFailureReportedAtGC: a failed child whose *Process is dropped without Wait is
// reported when it is garbage-collected, long before Cleanup.
func TestUnobservedFailureReportedAtGC(t *testing.T) {
	var buf lockedBuffer
	var w io.Writer = &buf
	failureOutput.Store(&w)
	t.Cleanup(func() { failureOutput.Store(nil) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	name := "gc-" + t.Name()
	done := func() <-chan struct{} { // p is unreachable once this returns
		p := NewProcess(gcFail, struct{}{}, WithName(name))
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return p.Done()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the child did not end")
	}
	for !strings.Contains(buf.String(), "mp: child process "+name) {
		if ctx.Err() != nil {
			t.Fatalf("the dropped process was not reported; output %q", buf.String())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(buf.String(), "failed, and its *Process was dropped") {
		t.Errorf("the report lacks the error: %q", buf.String())
	}
}

// TestPanicFrames: a report shows the panicking function's frames, not those of debug.Stack, the
// recovery or mp's own.
func TestPanicFrames(t *testing.T) {
	stack := strings.Join([]string{
		"goroutine 7 [running]:",
		"runtime/debug.Stack()", "\t/go/src/runtime/debug/stack.go:26 +0x5e",
		"github.com/mp-go/mp.protect.func1()", "\t/mp/call.go:139 +0x65",
		"panic({0x1, 0x2})", "\t/go/src/runtime/panic.go:783 +0x132",
		"main.crash(...)", "\t/app/main.go:12",
		"main.init.func1({0x3}, 0x4)", "\t/app/main.go:20 +0x45",
		"github.com/mp-go/mp.runWithTimeout[...]()", "\t/mp/call.go:109 +0x29d",
		"created by github.com/mp-go/mp.x", "\t/mp/call.go:1",
	}, "\n") + "\n"
	lines, more := panicFrames(stack, 10)
	if got := strings.Join(lines, "|"); got != "main.crash(...)|\t/app/main.go:12|main.init.func1({0x3}, 0x4)|\t/app/main.go:20 +0x45" || more != 4 {
		t.Errorf("panicFrames = %q, %d more", got, more)
	}
	if lines, more := panicFrames(stack, 2); len(lines) != 2 || more != 6 {
		t.Errorf("panicFrames with a limit of 2 = %q, %d more", lines, more)
	}
}
