package bootstrap

import (
	"os/exec"
	"runtime"
	"sync"
)

// The spawner is a goroutine locked to its OS thread that performs every fork+exec. On Linux a
// child's parent-death signal fires when the *thread* that forked it exits, not the process (Go
// issue 27505), so children must be forked from a thread that lives as long as they do. The
// spawner runs while at least one child it started is unreaped, and exits (taking its thread
// with it) when the last one has been reaped, so that an idle program keeps no extra goroutine.
var spawner struct {
	mu   sync.Mutex
	live int
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// Start starts cmd from the spawner thread. After a nil error the caller owns one reference on
// the spawner and must call Reaped once the child has been waited for.
func Start(cmd *exec.Cmd) error {
	spawner.mu.Lock()
	spawner.live++
	if spawner.reqs == nil {
		spawner.reqs = make(chan spawnReq)
		go spawnLoop(spawner.reqs)
	}
	reqs := spawner.reqs
	spawner.mu.Unlock()

	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	reqs <- r
	err := <-r.done
	if err != nil {
		Reaped()
	}
	return err
}

// Reaped releases the reference taken by a successful Start.
func Reaped() {
	spawner.mu.Lock()
	defer spawner.mu.Unlock()
	spawner.live--
	if spawner.live == 0 {
		close(spawner.reqs)
		spawner.reqs = nil
	}
}

func spawnLoop(reqs <-chan spawnReq) {
	// Never unlocked: when this goroutine returns, its thread exits with it, which is what we want
	// once no child depends on it.
	runtime.LockOSThread()
	for r := range reqs {
		r.done <- r.cmd.Start()
	}
}
