//go:build unix

package mp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// blockForever ignores its context and never returns: only a kill ends it.
var blockForever = Register("test.internal.block_forever", func(ctx context.Context, _ struct{}) (int, error) {
	select {}
})

// lineWriter hands each write to a channel.
type lineWriter chan string

func (w lineWriter) Write(b []byte) (int, error) {
	w <- string(b)
	return len(b), nil
}

// TestCleanupNamesWhatItWaitsFor: Cleanup waiting for a child that does not end says, after its
// patience, which child it waits for (name and pid), once, and goes on waiting until it ends.
func TestCleanupNamesWhatItWaitsFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := NewProcess(blockForever, struct{}{}, WithName("stuck-child"))
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	out := make(lineWriter, 4)
	returned := make(chan struct{})
	go func() {
		waitChildren(out, 100*time.Millisecond)
		close(returned)
	}()
	select {
	case msg := <-out:
		want := fmt.Sprintf("stuck-child (pid %d)", p.Pid())
		if !strings.Contains(msg, want) || !strings.HasPrefix(msg, "mp: Cleanup has waited") {
			t.Errorf("Cleanup said %q; want it to name %q", msg, want)
		}
	case <-returned:
		t.Fatal("waitChildren returned while the child runs")
	case <-ctx.Done():
		t.Fatal("Cleanup never said what it waits for")
	}
	select {
	case <-returned:
		t.Fatal("waitChildren returned while the child runs")
	case msg := <-out:
		t.Fatalf("Cleanup spoke twice: %q", msg)
	case <-time.After(300 * time.Millisecond): // a bounded look for a second message
	}
	p.Kill()
	select {
	case <-returned:
	case <-ctx.Done():
		t.Fatal("waitChildren did not return once the child was killed")
	}
}
