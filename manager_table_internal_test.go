//go:build linux

package mp

import (
	"context"
	"testing"
)

// BenchmarkManagerDictPathChoice is what each direct Dict operation pays to choose its path:
// the proxy's checks, the manager-death flag (one atomic load) and the cached table.
func BenchmarkManagerDictPathChoice(b *testing.B) {
	ctx := context.Background()
	m, err := StartManager(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	d, err := NewDict[string, int](ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := d.Set(ctx, "k", 1); err != nil {
		b.Fatal(err)
	}
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			if t, err := d.local(ctx); t == nil || err != nil {
				b.Fatal(t, err)
			}
		}
	})
	b.Run("deadFlag", func(b *testing.B) {
		for b.Loop() {
			if d.p.c.dead.Load() {
				b.Fatal("dead")
			}
		}
	})
}
