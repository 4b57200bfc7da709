//go:build unix

package mpnats_test

import (
	"testing"

	"github.com/mp-go/mp/mpnats"
	"github.com/mp-go/mp/mptest"
)

// The executor suite that *mp.Pool and *mp.GoroutinePool pass, on a NATS pool: an in-process
// cluster with one agent whose slots are the config's workers.
func TestExecutorSuite(t *testing.T) {
	mptest.TestExecutor(t, func(t *testing.T, cfg mptest.ExecutorConfig) mptest.TestedExecutor {
		var opts []mpnats.PoolOption
		if cfg.TaskTimeout > 0 {
			opts = append(opts, mpnats.WithTaskTimeout(cfg.TaskTimeout))
		}
		_, p := inProcess(t, cfg.Workers, opts...)
		return mptest.TestedExecutor{Executor: p, Shutdown: p.Shutdown, Close: p.Close}
	})
}
