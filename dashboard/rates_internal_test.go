package dashboard

import (
	"testing"
	"time"
)

// TestCounterRates: rates from looks at a fake clock; the window, the bound and a restart.
func TestCounterRates(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCounterRates(func() time.Time { return now })
	look := func(a, b uint64) ([2]float64, bool) { return c.look([2]uint64{a, b}) }
	if _, ok := look(0, 0); ok {
		t.Fatal("a rate from one look")
	}
	now = now.Add(100 * time.Millisecond)
	if _, ok := look(10, 0); ok {
		t.Fatal("a rate over 100ms: too short a span to mean anything")
	}
	now = now.Add(400 * time.Millisecond)
	if r, ok := look(50, 20); !ok || r != [2]float64{100, 40} {
		t.Fatalf("rates over 0.5s from (0,0) to (50,20): %v, %t; want 100 and 40 per second", r, ok)
	}
	// A look a second for a minute at 10 a second: once the burst above has left the looks kept
	// (bounded: rateSamples of them), the rate is 10.
	v := uint64(50)
	for i := range 60 {
		now = now.Add(time.Second)
		v += 10
		r, ok := look(v, 20)
		if !ok || i <= rateSamples {
			if !ok {
				t.Fatalf("no rate at look %d of a steady counter", i)
			}
			continue
		}
		if r[0] < 9.99 || r[0] > 10.01 || r[1] != 0 {
			t.Fatalf("steady 10/s: %v, %t", r, ok)
		}
	}
	if c.n != rateSamples {
		t.Fatalf("%d looks kept; want the bound, %d", c.n, rateSamples)
	}
	// Nobody looked for a minute: the old looks are out of the window, so no rate yet.
	now = now.Add(time.Minute)
	if _, ok := look(v+600, 20); ok {
		t.Fatal("a rate from looks older than the window")
	}
	now = now.Add(time.Second)
	if r, ok := look(v+605, 20); !ok || r[0] != 5 {
		t.Fatalf("after a gap: %v, %t; want 5/s", r, ok)
	}
	// The counters went down (a new queue under the name): start again.
	now = now.Add(time.Second)
	if _, ok := look(3, 0); ok {
		t.Fatal("a rate across counters that went down")
	}
}
