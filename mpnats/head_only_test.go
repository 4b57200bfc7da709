//go:build unix

package mpnats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// headAndAgent starts a head on loopback with ack wait headWait and connects an agent cluster to
// it with the agents' credentials and ack wait agentWait; both close with the test.
func headAndAgent(t *testing.T, ctx context.Context, headWait, agentWait time.Duration) (head, agent *mpnats.Cluster) {
	t.Helper()
	head, err := mpnats.Start(ctx, mpnats.WithListen("127.0.0.1:0"), mpnats.WithAckWait(headWait))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { head.Close() })
	cr, ok := head.AgentCredentials()
	if !ok {
		t.Fatal("a loopback head has no agent credentials")
	}
	agent, err = mpnats.Connect(ctx, head.URL(), mpnats.WithUser(cr), mpnats.WithAckWait(agentWait))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	return head, agent
}

// A pool made with the agents' credentials (which may not publish tasks) fails at once, saying
// so, instead of every call waiting for its publish to time out.
func TestPoolWithAgentCredentialsFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, agent := headAndAgent(t, ctx, 30*time.Second, 30*time.Second)
	start := time.Now()
	p, err := mpnats.NewPool(ctx, agent, "noperm")
	if err == nil {
		p.Close()
		t.Fatal("NewPool with the agents' credentials succeeded")
	}
	if !errors.Is(err, mpnats.ErrNoSubmitPermission) || !strings.Contains(err.Error(), "head's credentials") {
		t.Fatalf("NewPool with the agents' credentials: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("NewPool took %v to fail; it should not wait for a publish timeout", d)
	}
}

// An agent started with another ack wait neither changes the task consumer's (which the pool
// set) nor uses its own: a task running three times the pool's ack wait is not redelivered, so
// the agent sends its in-progress acks at the consumer's rate.
func TestAgentUsesTheConsumersAckWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	head, agent := headAndAgent(t, ctx, 600*time.Millisecond, 10*time.Second)
	p, err := mpnats.NewPool(ctx, head, "ackwait")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	actx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, agent, mpnats.WithSlots(2)) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	for len(p.Agents()) == 0 { // the agent has set up (its first heartbeat follows its setup)
		select {
		case <-ctx.Done():
			t.Fatal("no heartbeat from the agent")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got := mpnats.TaskAckWait(t, head); got != 600*time.Millisecond {
		t.Fatalf("the task consumer's ack wait is %v after an agent with 10s joined, want the pool's 600ms", got)
	}
	got, err := mp.Apply(ctx, p, SlowSquare, [2]int{7, 1800})
	if err != nil || got[0] != 49 {
		t.Fatalf("SlowSquare: %v, %v", got, err)
	}
	if n := mpnats.TaskRedeliveries(t, head); n != 0 {
		t.Fatalf("a task running 3 ack waits was redelivered %d times: the agent's in-progress acks were too slow", n)
	}
	if d := p.Duplicates(); d != 0 {
		t.Fatalf("%d duplicates", d)
	}
}
