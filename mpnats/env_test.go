//go:build unix

package mpnats_test

import (
	"context"
	"testing"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// ServeFromEnvMain is what a user's main does on a second host: serve when MPNATS_URL says so.
var ServeFromEnvMain = mp.Register("mpnats_test.serve_from_env", func(ctx context.Context, _ struct{}) (bool, error) {
	return mpnats.ServeFromEnv(ctx)
})

// A process of this binary started with MPNATS_URL and the agents' credentials becomes an agent
// of the head's loopback server; without MPNATS_URL, ServeFromEnv returns false at once.
func TestServeFromEnv(t *testing.T) {
	ctx := ctxT(t)
	if ok, err := mpnats.ServeFromEnv(ctx); ok || err != nil {
		t.Fatalf("without MPNATS_URL: %v, %v", ok, err)
	}
	c, err := mpnats.Start(ctx, mpnats.WithListen("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := mpnats.NewPool(ctx, c, "env")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cr, _ := c.AgentCredentials()
	agent := mp.NewProcess(ServeFromEnvMain, struct{}{}, mp.WithEnv("MPNATS_URL="+c.URL(), "MPNATS_USER="+cr.User, "MPNATS_PASSWORD="+cr.Password, "MPNATS_SLOTS=3"))
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { agent.Kill(); agent.Wait(context.Background()) }()
	waitWorkers(t, p, 3)
	pid, err := mp.Apply(ctx, p, ExitOnce, t.TempDir())
	if err != nil || pid <= 0 {
		t.Fatalf("a task on the agent from the environment: %d, %v", pid, err)
	}
	if as := p.Agents(); len(as) != 1 || as[0].Pid != agent.Pid() || as[0].Slots != 3 {
		t.Fatalf("agents %+v, want pid %d with 3 slots", as, agent.Pid())
	}
}
