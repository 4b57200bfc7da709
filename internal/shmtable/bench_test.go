//go:build linux

package shmtable

import (
	"context"
	"fmt"
	"syscall"
	"testing"
)

// benchTable returns a table of 1,000 entries of 16-byte keys and values, and the keys.
func benchTable(b *testing.B) (*Table, [][]byte) {
	tb := newTable(b, Options{})
	ctx := context.Background()
	var keys [][]byte
	for i := range 1000 {
		k := fmt.Appendf(nil, "key-%012d", i)
		keys = append(keys, k)
		if _, err := tb.Set(ctx, k, make([]byte, 16)); err != nil {
			b.Fatal(err)
		}
	}
	return tb, keys
}

// hammer starts a second process that Sets and Gets an entry of the table without pause, for
// the benchmark's length.
func hammer(b *testing.B, tb *Table) {
	c := startChild(b, tb, "hammer")
	c.ready(b)
	b.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.wait(b)
	})
}

func benchGet(b *testing.B, contended bool) {
	tb, keys := benchTable(b)
	if contended {
		hammer(b, tb)
	}
	ctx := context.Background()
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		v, _, found, err := tb.Get(ctx, keys[i%len(keys)], dst[:0])
		if !found || err != nil || len(v) != 16 {
			b.Fatal(found, err)
		}
	}
}

func benchSet(b *testing.B, contended bool) {
	tb, keys := benchTable(b)
	if contended {
		hammer(b, tb)
	}
	ctx := context.Background()
	val := make([]byte, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := tb.Set(ctx, keys[i%len(keys)], val); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet is a Get of a 16-byte value by a 16-byte key, the lock uncontended.
func BenchmarkGet(b *testing.B) { benchGet(b, false) }

// BenchmarkSet replaces a 16-byte value (a new record, a commit, a free).
func BenchmarkSet(b *testing.B) { benchSet(b, false) }

// BenchmarkGetContended is BenchmarkGet while another process Sets and Gets the same table
// without pause.
func BenchmarkGetContended(b *testing.B) { benchGet(b, true) }

// BenchmarkSetContended is BenchmarkSet against the same second process.
func BenchmarkSetContended(b *testing.B) { benchSet(b, true) }

// BenchmarkGetMany100 gets 100 entries in one Locked (one lock for the batch); an op is the
// batch.
func BenchmarkGetMany100(b *testing.B) {
	tb, keys := benchTable(b)
	ctx := context.Background()
	dst := make([]byte, 0, 100*16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := tb.Locked(ctx, func(tx *Tx) error {
			dst = dst[:0]
			for j := range 100 {
				var err error
				if dst, _, _, err = tx.Get(keys[(i*100+j)%len(keys)], dst); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || len(dst) != 1600 {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetMany100 sets 100 entries in one Locked; an op is the batch.
func BenchmarkSetMany100(b *testing.B) {
	tb, keys := benchTable(b)
	ctx := context.Background()
	val := make([]byte, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := tb.Locked(ctx, func(tx *Tx) error {
			for j := range 100 {
				if _, err := tx.Set(keys[(i*100+j)%len(keys)], val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
