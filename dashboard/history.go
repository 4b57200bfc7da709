package dashboard

import (
	"math/bits"
	"sync"
	"time"

	"github.com/mp-go/mp"
)

// historySeconds is how many one-second buckets a pool's history keeps: the charts show the
// last two minutes, and memory stays bounded however long the dashboard runs.
const historySeconds = 120

// histBuckets is the number of log-scale buckets of a duration histogram: four per power of two
// from 1µs up to about 2^36 µs (19 hours); longer durations land in the last one.
const histBuckets = 4 * 37

// hist is a log-scale histogram of durations, precise to about 19% (a quarter of an octave).
type hist [histBuckets]uint32

func histIndex(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < 1 {
		return 0
	}
	n := bits.Len64(us) - 1 // octave: 2^n <= us < 2^(n+1)
	sub := 0
	if n >= 2 {
		sub = int(us>>(n-2)) & 3
	} else if n == 1 {
		sub = int(us&1) * 2
	}
	i := 4*n + sub
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

// histValue is the lower bound of bucket i.
func histValue(i int) time.Duration {
	n, sub := i/4, i%4
	us := (uint64(1) << n) + (uint64(sub)<<n)/4
	return time.Duration(us) * time.Microsecond
}

// quantile returns the q-quantile (0..1) of the durations in h, and false if h is empty.
func (h *hist) quantile(q float64) (time.Duration, bool) {
	var total uint64
	for _, c := range h {
		total += uint64(c)
	}
	if total == 0 {
		return 0, false
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= rank {
			return histValue(i), true
		}
	}
	return histValue(histBuckets - 1), true
}

func (h *hist) add(o *hist) {
	for i, c := range o {
		h[i] += c
	}
}

// second is one second of a pool's completions.
type second struct {
	unix   int64 // the second it holds; a bucket of another second is stale
	calls  uint32
	items  uint32
	failed uint32
	ran    hist
	queued hist
}

// history is a pool's bounded record of completions, fed by its Observe callback: a ring of
// one-second buckets. It runs no goroutine: buckets are recycled as time moves on.
type history struct {
	mu   sync.Mutex
	ring [historySeconds]second
	now  func() time.Time
}

func newHistory(now func() time.Time) *history { return &history{now: now} }

// record is the Observe callback: a few arithmetic operations under a mutex held briefly, so it
// never blocks the goroutine completing the call for long.
func (h *history) record(ev mp.TaskEvent) {
	sec := h.now().Unix()
	h.mu.Lock()
	b := &h.ring[sec%historySeconds]
	if b.unix != sec {
		*b = second{unix: sec}
	}
	b.calls++
	if ev.Items > 0 {
		b.items += uint32(ev.Items)
	} else {
		b.items++
	}
	if ev.Outcome != "ok" {
		b.failed++
	}
	b.ran[histIndex(ev.Ran)]++
	b.queued[histIndex(ev.Queued)]++
	h.mu.Unlock()
}

// point is one second of a chart.
type point struct {
	Unix                int64
	Calls, Items, Fails uint32
	P50, P90, P99       time.Duration // of the run time; zero with no calls
	Wait50, Wait90      time.Duration // of the queue wait
	Has                 bool          // some call completed in that second
}

// series returns the last historySeconds seconds, oldest first, ending with the last complete
// second; and the percentiles over the whole window.
func (h *history) series() (pts []point, total point) {
	end := h.now().Unix() - 1
	pts = make([]point, historySeconds)
	var ran, queued hist
	h.mu.Lock()
	for i := range pts {
		sec := end - historySeconds + 1 + int64(i)
		p := &pts[i]
		p.Unix = sec
		b := &h.ring[((sec%historySeconds)+historySeconds)%historySeconds]
		if b.unix != sec || b.calls == 0 {
			continue
		}
		p.Has = true
		p.Calls, p.Items, p.Fails = b.calls, b.items, b.failed
		p.P50, _ = b.ran.quantile(0.5)
		p.P90, _ = b.ran.quantile(0.9)
		p.P99, _ = b.ran.quantile(0.99)
		p.Wait50, _ = b.queued.quantile(0.5)
		p.Wait90, _ = b.queued.quantile(0.9)
		ran.add(&b.ran)
		queued.add(&b.queued)
		total.Calls += b.calls
		total.Items += b.items
		total.Fails += b.failed
	}
	h.mu.Unlock()
	total.P50, total.Has = ran.quantile(0.5)
	total.P90, _ = ran.quantile(0.9)
	total.P99, _ = ran.quantile(0.99)
	total.Wait50, _ = queued.quantile(0.5)
	total.Wait90, _ = queued.quantile(0.9)
	return pts, total
}

// rateSamples and rateEvery bound a counterRates: at most rateSamples looks are kept, one per
// rateEvery, so a rate spans about rateSamples-1 seconds; rateWindow is the oldest look used.
const (
	rateSamples = 11
	rateEvery   = time.Second
	rateWindow  = 15 * time.Second
	rateMinSpan = 250 * time.Millisecond
)

// counterRates turns looks at cumulative counters (a queue's puts and gets, a manager's
// operations) into rates per second: the difference between the counters now and at the oldest
// kept look of the last rateWindow, over the time between. Every page render and snapshot looks,
// and the looks are shared by all of them. It keeps rateSamples looks (a fixed array) and runs
// no goroutine.
type counterRates struct {
	mu   sync.Mutex
	now  func() time.Time
	ring [rateSamples]rateSample
	n    int // looks kept
	next int // where the next one goes
}

type rateSample struct {
	at time.Time
	v  [2]uint64
}

func newCounterRates(now func() time.Time) *counterRates { return &counterRates{now: now} }

// look records counters v and returns their rates per second; ok is false until two looks at
// least rateMinSpan apart within rateWindow exist (or after a counter went down: a new series).
func (c *counterRates) look(v [2]uint64) (rates [2]float64, ok bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var oldest *rateSample // a copy: the look recorded below may take its place in the ring
	for i := range c.n {
		s := c.ring[(c.next-c.n+i+rateSamples)%rateSamples]
		if now.Sub(s.at) <= rateWindow {
			oldest = &s
			break
		}
	}
	if oldest != nil && (v[0] < oldest.v[0] || v[1] < oldest.v[1]) {
		oldest, c.n = nil, 0 // the counters started again: forget the old looks
	}
	if c.n == 0 || now.Sub(c.ring[(c.next-1+rateSamples)%rateSamples].at) >= rateEvery {
		c.ring[c.next] = rateSample{now, v}
		c.next = (c.next + 1) % rateSamples
		c.n = min(c.n+1, rateSamples)
	}
	if oldest == nil {
		return rates, false
	}
	span := now.Sub(oldest.at)
	if span < rateMinSpan {
		return rates, false
	}
	for i := range v {
		rates[i] = float64(v[i]-oldest.v[i]) / span.Seconds()
	}
	return rates, true
}
