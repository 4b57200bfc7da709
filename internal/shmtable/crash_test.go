//go:build linux

package shmtable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// matchScript reports the number of script operations j such that the table's contents snap are
// exactly what the first j operations leave (searching j up to limit), or -1. The comparison is
// kept incremental: mismatches counts the keys where snap and the model differ.
func matchScript(snap map[string]string, limit int) int {
	model := map[string]string{}
	eq := func(k string) bool {
		s, ok1 := snap[k]
		m, ok2 := model[k]
		return ok1 == ok2 && s == m
	}
	mismatches := len(snap)
	for j := 0; j <= limit; j++ {
		if j > 0 {
			st := scriptAt(j)
			if st.clear {
				clear(model)
				mismatches = len(snap)
			} else {
				before := eq(st.key)
				if st.del {
					delete(model, st.key)
				} else {
					model[st.key] = string(st.val)
				}
				if after := eq(st.key); before && !after {
					mismatches++
				} else if !before && after {
					mismatches--
				}
			}
		}
		if mismatches == 0 {
			return j
		}
	}
	return -1
}

// afterCrash checks a table a child died in: the next locker is told of the dead owner, every
// invariant holds, the contents are the script's after some number of whole operations, and the
// recovered table goes on working (its allocator too).
func afterCrash(t *testing.T, tb *Table, wantDead bool) (dead bool) {
	t.Helper()
	err := tb.Check(testCtx(t))
	if errors.Is(err, ErrCorrupt) || err != nil && !errors.Is(err, ErrOwnerDead) {
		t.Fatal("Check after the kill:", err)
	}
	dead = errors.Is(err, ErrOwnerDead)
	if wantDead && !dead {
		t.Fatal("the first lock after a child died holding it did not report ErrOwnerDead")
	}
	snap := snapshot(t, tb)
	j := matchScript(snap, 2_000_000)
	if j < 0 {
		t.Fatalf("the table's %d entries are not the script's state after any number of whole operations", len(snap))
	}
	if n, err := tb.Recovered(testCtx(t)); err != nil || dead && n != 1 {
		t.Fatalf("Recovered = %d, %v", n, err)
	}
	ctx := testCtx(t)
	for i := range 400 {
		k := fmt.Appendf(nil, "after-%d", i%50)
		if _, err := tb.Set(ctx, k, make([]byte, i%700)); err != nil {
			t.Fatal("Set after recovery:", err)
		}
		if i%3 == 0 {
			tb.Delete(ctx, fmt.Appendf(nil, "key-%d", i%scriptKeys))
		}
	}
	mustCheck(t, tb)
	t.Logf("the table held the script's state after %d operations (%d entries); owner dead: %v", j, len(snap), dead)
	return dead
}

// TestCrashPoints kills a child at each point inside an operation where the table's memory
// differs (a record written and not committed, committed and the old one not freed, a free list
// half linked, a new index built and not installed, the file grown and the size not recorded, a
// Clear committed): each time, the table recovers to a state the operations left whole.
func TestCrashPoints(t *testing.T) {
	cases := []struct {
		point string
		n     int
	}{
		{"write", 1}, {"write", 60}, {"commit", 1}, {"commit", 60}, {"free", 1}, {"free", 60},
		{"rehash", 1}, {"rehash", 4}, {"rehash-commit", 1}, {"rehash-commit", 4},
		{"grow", 1}, {"clear", 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.point, c.n), func(t *testing.T) {
			tb := newTable(t, Options{})
			ch := startChild(t, tb, fmt.Sprintf("crash %s %d", c.point, c.n))
			if st := ch.wait(t); !killedBySIGKILL(st) {
				t.Fatalf("the child ended with %v, not killed at %s", st, c.point)
			}
			afterCrash(t, tb, true)
		})
	}
}

// TestKillAtRandom SIGKILLs a child running the script at random moments, many times: after each,
// the table is consistent and holds the script's state after a whole number of operations.
func TestKillAtRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	// At least 16 rounds, and on until a kill has landed inside an operation (at most 40).
	deaths, rounds := 0, 0
	for r := 0; r < 16 || deaths == 0 && r < 40; r++ {
		rounds++
		tb := newTable(t, Options{})
		ch := startChild(t, tb, "loop")
		ch.ready(t)
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond) // a random moment of its run
		ch.cmd.Process.Signal(syscall.SIGKILL)
		if st := ch.wait(t); !killedBySIGKILL(st) {
			t.Fatalf("round %d: the child ended with %v", r, st)
		}
		if afterCrash(t, tb, false) {
			deaths++
		}
		tb.Close()
	}
	t.Logf("%d of %d kills landed inside an operation", deaths, rounds)
	if deaths == 0 {
		t.Fatalf("none of %d kills of a child that spends nearly all its time holding the lock landed inside an operation", rounds)
	}
}

// TestProcessesIncrement has 8 processes make 2,000 Locked increments each of one counter, all at
// once: exactly 16,000.
func TestProcessesIncrement(t *testing.T) {
	tb := newTable(t, Options{})
	var kids []*child
	for range 8 {
		kids = append(kids, startChild(t, tb, "incr 2000"))
	}
	for _, c := range kids {
		if st := c.wait(t); !st.Success() {
			t.Fatalf("a child ended with %v", st)
		}
	}
	v, _, _, err := tb.Get(testCtx(t), counterKey, nil)
	if err != nil || len(v) != 8 {
		t.Fatalf("counter = %v, %v", v, err)
	}
	if n := binary.LittleEndian.Uint64(v); n != 16000 {
		t.Fatalf("counter = %d after 8 processes made 2,000 increments each; want 16000", n)
	}
	mustCheck(t, tb)
}
