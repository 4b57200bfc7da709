//go:build linux

package shmtable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

type entry struct {
	val string
	rev uint64
}

func entries(t *testing.T, tb *Table) map[string]entry {
	t.Helper()
	m := map[string]entry{}
	if err := tb.Range(testCtx(t), func(k, v []byte, rev uint64) bool {
		m[string(k)] = entry{string(v), rev}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLockedRollback: a batch whose fn returns an error, or panics, leaves the table exactly as
// it found it — values and revisions — however many writes it made (enough to grow the index and
// the undo log, and to replace and delete entries it wrote itself).
func TestLockedRollback(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{})
	for i := range 10 {
		tb.Set(ctx, fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i))
	}
	tb.Delete(ctx, []byte("k3"))
	before := entries(t, tb)
	lastRev, _ := tb.Set(ctx, []byte("probe"), nil)
	tb.Delete(ctx, []byte("probe"))
	failed := errors.New("fn failed")
	batch := func(tx *Tx) error {
		for i := range 200 {
			k := fmt.Appendf(nil, "k%d", i%40)
			if i%9 == 0 {
				if _, err := tx.Delete(k); err != nil {
					return err
				}
			} else if _, err := tx.Set(k, make([]byte, i)); err != nil {
				return err
			}
		}
		return tx.Clear()
	}
	if err := tb.Locked(ctx, func(tx *Tx) error {
		if err := batch(tx); err != nil {
			return err
		}
		if tx.Len() != 0 {
			t.Errorf("Len inside the batch after its Clear = %d", tx.Len())
		}
		return failed
	}); err != failed {
		t.Fatalf("Locked = %v; want fn's error", err)
	}
	if got := entries(t, tb); !maps.Equal(got, before) {
		t.Fatalf("after a failed batch the table is %v; want %v", got, before)
	}
	mustCheck(t, tb)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recover() = %v; want the batch's panic", r)
			}
		}()
		tb.Locked(ctx, func(tx *Tx) error {
			batch(tx)
			panic("boom")
		})
	}()
	if got := entries(t, tb); !maps.Equal(got, before) {
		t.Fatalf("after a batch that panicked the table is %v; want %v", got, before)
	}
	mustCheck(t, tb)
	// A batch that succeeds commits every write, and revisions go on from the rolled back ones.
	if err := tb.Locked(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n, _ := tb.Len(ctx); n != 0 {
		t.Fatalf("Len after a batch ending in Clear = %d", n)
	}
	if rev, _ := tb.Set(ctx, []byte("k1"), nil); rev <= lastRev+400 {
		t.Fatalf("revision %d after batches that used 400 from %d: revisions were given out again", rev, lastRev)
	}
	mustCheck(t, tb)
}

// afterBatchCrash checks a table a child died in while running the batch script: it holds the
// script's state after a whole number of batches.
func afterBatchCrash(t *testing.T, tb *Table, wantDead bool) bool {
	t.Helper()
	err := tb.Check(testCtx(t))
	if errors.Is(err, ErrCorrupt) || err != nil && !errors.Is(err, ErrOwnerDead) {
		t.Fatal("Check after the kill:", err)
	}
	dead := errors.Is(err, ErrOwnerDead)
	if wantDead && !dead {
		t.Fatal("the first lock after a child died holding it did not report ErrOwnerDead")
	}
	snap := snapshot(t, tb)
	// Every value names its batch: the state can only be the one after the newest batch seen.
	j := 0
	for _, v := range snap {
		j = max(j, int(binary.LittleEndian.Uint64([]byte(v))))
	}
	for _, cand := range []int{j, j + 1} { // j+1: a batch that only deleted what it touched
		if maps.Equal(snap, batchModel(cand)) {
			t.Logf("the table held the state after %d whole batches; owner dead: %v", cand, dead)
			mustCheck(t, tb)
			return dead
		}
	}
	t.Fatalf("the table's %d entries are not the state after whole batches (newest value from batch %d)", len(snap), j)
	return false
}

// TestBatchCrashPoints kills a child inside a Locked batch at each point that matters — a record
// written, its undo entry logged, a write committed, the undo log grown, the index and the file
// grown, the batch committed — and then a second child inside the recovery's replay of the undo
// log: every time, the table holds the state after whole batches.
func TestBatchCrashPoints(t *testing.T) {
	cases := []struct {
		point string
		n     int
	}{
		{"write", 1}, {"write", 33}, {"undo", 1}, {"undo", 17}, {"undo", 45}, {"commit", 7},
		{"commit", 40}, {"rehash", 1}, {"grow", 1}, {"grow", 2}, {"batch-commit", 1}, {"batch-commit", 49},
		{"free", 30},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.point, c.n), func(t *testing.T) {
			tb := newTable(t, Options{})
			ch := startChild(t, tb, fmt.Sprintf("batchcrash %s %d", c.point, c.n))
			if st := ch.wait(t); !killedBySIGKILL(st) {
				t.Fatalf("the child ended with %v, not killed at %s", st, c.point)
			}
			afterBatchCrash(t, tb, true)
		})
	}
	t.Run("replay", func(t *testing.T) {
		tb := newTable(t, Options{})
		ch := startChild(t, tb, "batchcrash undo 45") // 5 into the third batch
		if st := ch.wait(t); !killedBySIGKILL(st) {
			t.Fatalf("the first child ended with %v", st)
		}
		rec := startChild(t, tb, "recover replay 3") // dies in the middle of undoing it
		if st := rec.wait(t); !killedBySIGKILL(st) {
			t.Fatalf("the recovering child ended with %v, not killed in the replay", st)
		}
		afterBatchCrash(t, tb, true)
		if n, _ := tb.Recovered(testCtx(t)); n != 1 {
			t.Fatalf("Recovered = %d; want 1 (the first recovery died before it finished)", n)
		}
	})
}

// TestBatchKillAtRandom SIGKILLs a child running Locked batches at random moments.
func TestBatchKillAtRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	// At least 12 rounds, and on until a kill has landed inside a batch (at most 40).
	deaths, rounds := 0, 0
	for r := 0; r < 12 || deaths == 0 && r < 40; r++ {
		rounds++
		tb := newTable(t, Options{})
		ch := startChild(t, tb, "batchloop")
		ch.ready(t)
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond) // a random moment of its run
		ch.cmd.Process.Signal(syscall.SIGKILL)
		if st := ch.wait(t); !killedBySIGKILL(st) {
			t.Fatalf("round %d: the child ended with %v", r, st)
		}
		if afterBatchCrash(t, tb, false) {
			deaths++
		}
		tb.Close()
	}
	t.Logf("%d of %d kills landed inside a batch", deaths, rounds)
	if deaths == 0 {
		t.Fatalf("none of %d kills of a child that spends nearly all its time in batches landed in one", rounds)
	}
}

// TestLockedRollbackAfterShrink: a batch that deletes many entries and then has the index rebuilt
// (as a Set does when deleted slots pile up) still rolls every one of them back.
func TestLockedRollbackAfterShrink(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{})
	for i := range 300 {
		tb.Set(ctx, fmt.Appendf(nil, "old%d", i), fmt.Appendf(nil, "v%d", i))
	}
	before := entries(t, tb)
	failed := errors.New("fn failed")
	err := tb.Locked(ctx, func(tx *Tx) error {
		if err := tx.Clear(); err != nil {
			return err
		}
		// What a Set does when deleted slots have piled up: rebuild the index for the entries
		// left (none). Rolling back needs room for all 300 again.
		if _, err := tx.t.rehash(minIndexLog); err != nil {
			return err
		}
		if _, err := tx.Set([]byte("new"), nil); err != nil {
			return err
		}
		return failed
	})
	if err != failed {
		t.Fatalf("Locked = %v; want fn's error", err)
	}
	if got := entries(t, tb); !maps.Equal(got, before) {
		t.Fatalf("after the failed batch the table has %d entries; want the %d it had", len(got), len(before))
	}
	mustCheck(t, tb)
}
