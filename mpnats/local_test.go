//go:build unix

package mpnats_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
	"github.com/nats-io/nats.go"
)

// SlowSquare sleeps ms milliseconds and returns x*x and the pid of its agent (its worker's parent).
var SlowSquare = mp.Register("mpnats_test.slow_square", func(ctx context.Context, a [2]int) ([2]int, error) {
	select {
	case <-time.After(time.Duration(a[1]) * time.Millisecond):
	case <-ctx.Done():
		return [2]int{}, ctx.Err()
	}
	return [2]int{a[0] * a[0], os.Getppid()}, nil
})

func newLocal(t *testing.T, agents, slots int) *mpnats.LocalPool {
	t.Helper()
	lp, err := mpnats.NewLocalPool(ctxT(t), "local", agents, slots, mpnats.WithClusterOptions(mpnats.WithAckWait(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lp.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return lp
}

// waitLost waits until the pool reports the agent with pid lost.
func waitLost(t *testing.T, p *mpnats.LocalPool, pid int) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		for _, a := range p.Agents() {
			if a.Pid == pid && a.Lost {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("agent %d not reported lost after 20s", pid)
	return 0
}

// runAndSignal submits n tasks, sends sig to the first agent once it has finished a few, and
// checks every Future completes once with the right value.
func runAndSignal(t *testing.T, lp *mpnats.LocalPool, sig syscall.Signal) (victim int, byAgent map[int]int) {
	ctx := ctxT(t)
	victim = lp.AgentProcesses()[0].Pid()
	const n = 120
	var mu sync.Mutex
	byAgent = map[int]int{}
	signalled := make(chan struct{})
	var once sync.Once
	var callbacks sync.WaitGroup
	futs := make([]*mp.Future[[2]int], n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, lp, SlowSquare, [2]int{i, 20})
		callbacks.Add(1)
		futs[i].OnDone(func(v [2]int, err error) {
			defer callbacks.Done()
			mu.Lock()
			byAgent[v[1]]++
			k := byAgent[victim]
			mu.Unlock()
			if k == 3 {
				once.Do(func() { syscall.Kill(victim, sig); close(signalled) })
			}
		})
	}
	for i, f := range futs {
		v, err := f.Wait(ctx)
		if err != nil || v[0] != i*i {
			t.Fatalf("task %d: %v, %v", i, v, err)
		}
	}
	callbacks.Wait()
	select {
	case <-signalled:
	default:
		t.Fatal("the victim agent ran fewer than 3 tasks")
	}
	return victim, byAgent
}

// An agent SIGKILLed mid-run: every Future completes once with the value a local run gives; the
// agent is reported lost.
func TestLocalPoolAgentKilled(t *testing.T) {
	lp := newLocal(t, 2, 2)
	victim, byAgent := runAndSignal(t, lp, syscall.SIGKILL)
	waitLost(t, lp, victim)
	t.Logf("tasks by agent: %v; duplicates %d", byAgent, lp.Duplicates())
	if len(byAgent) != 2 {
		t.Fatalf("tasks ran on %v, want both agents", byAgent)
	}
}

// An agent SIGSTOPped: reported lost by its missing heartbeats, its tasks handed to the other
// after the ack wait.
func TestLocalPoolAgentStopped(t *testing.T) {
	lp := newLocal(t, 2, 2)
	victim, _ := runAndSignal(t, lp, syscall.SIGSTOP)
	defer syscall.Kill(victim, syscall.SIGCONT)
	if d := waitLost(t, lp, victim); d > 5*time.Second {
		t.Fatalf("lost after %v", d)
	}
}

// The loopback server's credentials: none is refused; the agents' cannot submit tasks.
func TestLocalPoolCredentials(t *testing.T) {
	lp := newLocal(t, 1, 1)
	url := lp.Cluster().URL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("URL %q", url)
	}
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("a client without credentials was let in")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("without credentials: %v", err)
	}
	cr, ok := lp.Cluster().AgentCredentials()
	if !ok {
		t.Fatal("no agent credentials")
	}
	nc, err := nats.Connect(url, nats.UserInfo(cr.User, cr.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	violation := make(chan error, 1)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violation <- err })
	nc.Publish("mp.tasks.local", []byte("x"))
	nc.Flush()
	select {
	case err := <-violation:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("agent publishing a task: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an agent's credentials published a task unrefused")
	}
}

func TestStartRefusesRoutableWithoutTLS(t *testing.T) {
	_, err := mpnats.Start(ctxT(t), mpnats.WithListen("0.0.0.0:0"))
	if err == nil || !strings.Contains(err.Error(), "without TLS and credentials") {
		t.Fatalf("Start on 0.0.0.0 without TLS: %v", err)
	}
	_, err = mpnats.Start(ctxT(t), mpnats.WithListen("0.0.0.0:0"), mpnats.WithAuth(mpnats.Credentials{User: "h", Password: "0123456789abcdef"}, mpnats.Credentials{User: "a", Password: "0123456789abcdef"}))
	if err == nil || !strings.Contains(err.Error(), "without TLS and credentials") {
		t.Fatalf("Start on 0.0.0.0 with credentials but no TLS: %v", err)
	}
}
