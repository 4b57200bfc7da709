//go:build unix

package mpnats_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// testAgentEnv, set in its environment, makes the test binary a worker agent (ServeFromEnv)
// instead of running tests: the multi-host tests start it so in each network namespace.
const testAgentEnv = "MPNATS_TEST_AGENT"

// testAgentMain is the agent's body: it serves until SIGTERM or SIGINT and returns the exit code.
func testAgentMain() int {
	mp.Init() // a worker process of the agent runs its tasks here and never returns
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ok, err := mpnats.ServeFromEnv(ctx)
	if !ok {
		fmt.Fprintln(os.Stderr, "test agent: MPNATS_URL is not set")
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test agent:", err)
		return 1
	}
	return 0
}
