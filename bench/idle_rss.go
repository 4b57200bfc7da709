//go:build unix

package bench

import (
	"context"
	"os/exec"
	"time"

	"github.com/mp-go/mp"
)

// idleSettle is how long an idle child is left alone, once it has said it is ready, before its
// memory is read: long enough for start-up work still in flight (the Go runtime's, or the
// function's first steps) to land.
const idleSettle = 100 * time.Millisecond

// idleFor bounds an idle child's life should the harness fail to kill it.
const idleFor = time.Minute

// idleRSS is workload c: the memory of a started child that does nothing.
var idleRSS = &Workload{
	Name:         "idle_rss",
	What:         "resident memory of a started child blocked in its function",
	Unit:         "MiB",
	Kind:         Memory,
	Samples:      20,
	QuickSamples: 3,
	MP: func(ctx context.Context, s Size) (Result, error) {
		n := s.N
		procs := make([]*mp.Process, 0, n)
		defer func() {
			for _, p := range procs {
				p.Kill()
				p.Wait(ctx) // an *mp.ExitError for the kill: expected
			}
		}()
		pids := make([]int, 0, n)
		for range n {
			p := mp.NewProcess(Idle, idleFor)
			if err := p.Start(ctx); err != nil {
				return Result{}, err
			}
			procs = append(procs, p)
			pids = append(pids, p.Pid())
		}
		return readIdle(ctx, pids, map[string]any{"op": "mp.NewProcess(Idle).Start, then read its memory"})
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		n := s.N
		cmds := make([]*exec.Cmd, 0, n)
		defer func() {
			for _, c := range cmds {
				c.Process.Kill()
				c.Wait()
			}
		}()
		pids := make([]int, 0, n)
		for range n {
			c, err := fl.StartIdle(ctx)
			if err != nil {
				return Result{}, err
			}
			cmds = append(cmds, c)
			pids = append(pids, c.Process.Pid)
		}
		return readIdle(ctx, pids, map[string]any{"op": "trivial idle: prints ready, then sleeps"})
	},
	Python:  []string{"spawn", "fork"},
	Targets: []Target{{Max: 5}},
}

// readIdle lets the children settle, then reads their memory: RSS as the samples, PSS and USS as
// extras, all in MiB.
func readIdle(ctx context.Context, pids []int, params map[string]any) (Result, error) {
	return readIdleAfter(ctx, idleSettle, pids, params)
}

// readIdleAfter is readIdle with a settle time of its own.
func readIdleAfter(ctx context.Context, settle time.Duration, pids []int, params map[string]any) (Result, error) {
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	params["field"] = "Rss of /proc/PID/smaps_rollup"
	params["settle_ms"] = ms(settle)
	params["alive_together"] = len(pids)
	r := Result{Params: params}
	for _, pid := range pids {
		m, err := ReadMem(pid)
		if err != nil {
			return Result{}, err
		}
		r.Samples = append(r.Samples, mib(m.RSS))
		if m.PSS > 0 {
			r.addExtra("pss_mib", mib(m.PSS))
			r.addExtra("uss_mib", mib(m.USS))
		}
	}
	return r, nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
