package mp

import "github.com/mp-go/mp/internal/procid"

// processAlive reports whether process pid exists and has not exited (a zombie has). It knows
// the pid only: where an owner is recorded, use its procid.ID and procid.Alive, which also tell
// a pid given to another process.
func processAlive(pid int) bool { return procid.Alive(procid.Make(pid, 0)) }
